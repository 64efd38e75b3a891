//! `customers`: who logs in, and the profile partners read.

use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, malformed};
use crate::types::{CustomerId, Username};

#[derive(Debug, Clone)]
pub struct CustomerLogin {
    pub customer_id: CustomerId,
    /// argon2id PHC string of the password, bound to the customer id.
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct CustomerRecord {
    pub customer_id: CustomerId,
    pub username: Username,
    pub password_hash: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Extra profile attributes.
    pub attributes: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub customer_id: CustomerId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub attributes: Map<String, Value>,
}

/// An admin's hand-written attributes that are not a JSON object are left out rather than
/// failing every read of that customer.
fn attributes_of(stored: &str) -> Map<String, Value> {
    match serde_json::from_str(stored) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn customer_id(r: &AnyRow) -> Result<CustomerId, StoreError> {
    let raw: String = r.try_get("customer_id")?;
    CustomerId::parse(&raw).map_err(|why| malformed("customers", "customer_id", why))
}

impl Store {
    pub async fn customer_login(
        &self,
        username: &Username,
    ) -> Result<Option<CustomerLogin>, StoreError> {
        // A disabled customer is answered like an unknown one.
        let row = sqlx::query(
            "SELECT customer_id, password_hash FROM customers \
             WHERE username = $1 AND disabled_at IS NULL",
        )
        .bind(username.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(CustomerLogin {
            customer_id: customer_id(&r)?,
            password_hash: r.try_get("password_hash")?,
        }))
    }

    pub async fn profile(&self, id: &CustomerId) -> Result<Option<Profile>, StoreError> {
        let row = sqlx::query(
            "SELECT customer_id, name, email, phone, attributes FROM customers \
             WHERE customer_id = $1 AND disabled_at IS NULL",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        let Some(r) = row else { return Ok(None) };
        let attributes: String = r.try_get("attributes")?;
        Ok(Some(Profile {
            customer_id: customer_id(&r)?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
            phone: r.try_get("phone")?,
            attributes: attributes_of(&attributes),
        }))
    }

    pub async fn insert_customer(&self, c: &CustomerRecord, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO customers (customer_id, username, password_hash, name, email, phone, \
             attributes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(c.customer_id.as_str())
        .bind(c.username.as_str())
        .bind(&c.password_hash)
        .bind(&c.name)
        .bind(&c.email)
        .bind(&c.phone)
        .bind(Value::Object(c.attributes.clone()).to_string())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        Ok(())
    }
}

/// A customer as an admin sees it: everything but the password hash.
#[derive(Debug, Clone)]
pub struct CustomerRow {
    pub customer_id: CustomerId,
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub attributes: Map<String, Value>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
    pub disabled_at: Option<i64>,
}

/// How an admin names a customer.
#[derive(Debug, Clone)]
pub enum CustomerKey {
    Id(CustomerId),
    Username(Username),
}

/// A change to a customer; `None` fields stay, `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct CustomerUpdate {
    pub username: Option<Username>,
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    /// Replaces the whole attribute object.
    pub attributes: Option<Map<String, Value>>,
}

impl CustomerUpdate {
    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.name.is_none()
            && self.email.is_none()
            && self.phone.is_none()
            && self.attributes.is_none()
    }
}

impl Store {
    pub async fn customer_row(&self, key: &CustomerKey) -> Result<Option<CustomerRow>, StoreError> {
        let (column, value) = match key {
            CustomerKey::Id(id) => ("customer_id", id.as_str()),
            CustomerKey::Username(u) => ("username", u.as_str()),
        };
        let row = sqlx::query(&format!(
            "SELECT customer_id, username, name, email, phone, attributes, created_at, \
             updated_at, disabled_at FROM customers WHERE {column} = $1"
        ))
        .bind(value)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        let Some(r) = row else { return Ok(None) };
        let attributes: String = r.try_get("attributes")?;
        Ok(Some(CustomerRow {
            customer_id: customer_id(&r)?,
            username: r.try_get("username")?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
            phone: r.try_get("phone")?,
            attributes: attributes_of(&attributes),
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            disabled_at: r.try_get("disabled_at")?,
        }))
    }

    /// `false`: no such customer.
    pub async fn update_customer(
        &self,
        id: &CustomerId,
        change: &CustomerUpdate,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut sets: Vec<(&str, Option<String>)> = Vec::new();
        if let Some(u) = &change.username {
            sets.push(("username", Some(u.as_str().to_owned())));
        }
        for (column, value) in [
            ("name", &change.name),
            ("email", &change.email),
            ("phone", &change.phone),
        ] {
            if let Some(v) = value {
                sets.push((column, v.clone()));
            }
        }
        if let Some(a) = &change.attributes {
            sets.push(("attributes", Some(Value::Object(a.clone()).to_string())));
        }
        let assignments: String = sets
            .iter()
            .enumerate()
            .map(|(i, (column, _))| format!(", {column} = ${}", i + 3))
            .collect();
        let sql =
            format!("UPDATE customers SET updated_at = $2{assignments} WHERE customer_id = $1");
        let mut query = sqlx::query(&sql).bind(id.as_str()).bind(now);
        for (_, value) in sets {
            query = query.bind(value);
        }
        let done = query.execute(&self.pool).await.map_err(|e| self.note(e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Disables (`Some(now)`) or enables (`None`) a customer. `false`: no such customer.
    pub async fn set_customer_disabled(
        &self,
        id: &CustomerId,
        disabled_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE customers SET disabled_at = $2, updated_at = $3 WHERE customer_id = $1",
        )
        .bind(id.as_str())
        .bind(disabled_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        Ok(done.rows_affected() == 1)
    }

    /// `false`: no such customer.
    pub async fn set_customer_password(
        &self,
        id: &CustomerId,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE customers SET password_hash = $2, updated_at = $3 WHERE customer_id = $1",
        )
        .bind(id.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        Ok(done.rows_affected() == 1)
    }

    /// `false`: no such customer.
    pub async fn delete_customer(&self, id: &CustomerId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM customers WHERE customer_id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        Ok(done.rows_affected() == 1)
    }
}
