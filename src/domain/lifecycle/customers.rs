//! Customer changes after creation: update, disable, enable, delete, a new password.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::domain::Error;
use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::security::hashing::{Argon2Settings, bind, hash_now};
use crate::store::{CustomerKey, CustomerRow, CustomerUpdate, Store};
use crate::types::{CustomerId, Username};

/// A customer named by username or by opaque id (exactly one of them).
pub fn customer_key(username: Option<&str>, id: Option<&str>) -> Result<CustomerKey, Error> {
    match (username, id) {
        (Some(u), None) => Username::parse(u)
            .map(CustomerKey::Username)
            .map_err(Error::invalid_request),
        (None, Some(i)) => CustomerId::parse(i)
            .map(CustomerKey::Id)
            .map_err(Error::invalid_request),
        _ => Err(Error::invalid_request(
            "name the customer by --username or by --id (one of them)",
        )),
    }
}

pub async fn customer(store: &Store, key: &CustomerKey) -> Result<CustomerRow, Error> {
    store
        .customer_row(key)
        .await?
        .ok_or_else(|| Error::invalid_request("no such customer"))
}

/// A change an admin asks of a customer. An empty name, email or phone clears it.
#[derive(Debug, Clone, Default)]
pub struct CustomerChange {
    pub username: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// A JSON object that replaces the customer's attributes.
    pub attributes: Option<Value>,
}

pub async fn update_customer(
    store: &Store,
    key: &CustomerKey,
    change: CustomerChange,
    now: i64,
) -> Result<CustomerRow, Error> {
    let clear_empty = |v: Option<String>| v.map(|v| Some(v).filter(|v| !v.is_empty()));
    let username = change
        .username
        .as_deref()
        .map(Username::parse)
        .transpose()
        .map_err(Error::invalid_request)?;
    let update = CustomerUpdate {
        username,
        name: clear_empty(change.name),
        email: clear_empty(change.email),
        phone: clear_empty(change.phone),
        attributes: match change.attributes {
            None => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(Error::invalid_request("attributes must be a JSON object")),
        },
    };
    if update.is_empty() {
        return Err(Error::invalid_request(
            "nothing to change: give --new-username, --name, --email, --phone or --attributes",
        ));
    }
    let current = customer(store, key).await?;
    if let Some(u) = &update.username
        && let Some(other) = store
            .customer_row(&CustomerKey::Username(u.clone()))
            .await?
        && other.customer_id != current.customer_id
    {
        return Err(Error::invalid_request("that username is taken"));
    }
    let id = &current.customer_id;
    if !store.update_customer(id, &update, now).await? {
        return Err(Error::invalid_request("no such customer"));
    }
    // Which fields changed, never their values: they are personal data.
    let fields: Vec<&str> = [
        ("username", update.username.is_some()),
        ("name", update.name.is_some()),
        ("email", update.email.is_some()),
        ("phone", update.phone.is_some()),
        ("attributes", update.attributes.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, changed)| changed.then_some(f))
    .collect();
    AuditEvent::new(AuditKind::CustomerUpdated, &Caller::cli(), now * 1000)
        .customer(id.as_str())
        .detail(format!("changed: {}", fields.join(" ")))
        .write_now(store)
        .await?;
    customer(store, &CustomerKey::Id(id.clone())).await
}

/// A disabled customer cannot log in (answered like a wrong password) and their profile is no
/// longer served, from the next request on every instance.
pub async fn set_customer_disabled(
    store: &Store,
    key: &CustomerKey,
    disabled: bool,
    now: i64,
) -> Result<CustomerRow, Error> {
    let id = customer(store, key).await?.customer_id;
    if !store
        .set_customer_disabled(&id, disabled.then_some(now), now)
        .await?
    {
        return Err(Error::invalid_request("no such customer"));
    }
    let kind = if disabled {
        AuditKind::CustomerDisabled
    } else {
        AuditKind::CustomerEnabled
    };
    AuditEvent::new(kind, &Caller::cli(), now * 1000)
        .customer(id.as_str())
        .write_now(store)
        .await?;
    customer(store, &CustomerKey::Id(id)).await
}

pub async fn delete_customer(
    store: &Store,
    key: &CustomerKey,
    now: i64,
) -> Result<CustomerId, Error> {
    let id = customer(store, key).await?.customer_id;
    if !store.delete_customer(&id).await? {
        return Err(Error::invalid_request("no such customer"));
    }
    AuditEvent::new(AuditKind::CustomerDeleted, &Caller::cli(), now * 1000)
        .customer(id.as_str())
        .write_now(store)
        .await?;
    Ok(id)
}

/// A new password (at least 8 characters), hashed bound to the customer id. Customer tokens
/// already issued stay valid until they expire.
pub async fn set_customer_password(
    store: &Store,
    key: &CustomerKey,
    password: &SecretString,
    argon2: &Argon2Settings,
    now: i64,
) -> Result<CustomerId, Error> {
    if password.expose_secret().len() < 8 {
        return Err(Error::invalid_request(
            "a password must be at least 8 characters",
        ));
    }
    let id = customer(store, key).await?.customer_id;
    let hash = hash_now(argon2, &bind(id.as_str(), password.expose_secret()))?;
    if !store.set_customer_password(&id, &hash, now).await? {
        return Err(Error::invalid_request("no such customer"));
    }
    AuditEvent::new(AuditKind::CustomerPasswordSet, &Caller::cli(), now * 1000)
        .customer(id.as_str())
        .write_now(store)
        .await?;
    Ok(id)
}
