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

fn customer_id(r: &AnyRow) -> Result<CustomerId, StoreError> {
    let raw: String = r.try_get("customer_id")?;
    CustomerId::parse(&raw).map_err(|why| malformed("customers", "customer_id", why))
}

impl Store {
    pub async fn customer_login(
        &self,
        username: &Username,
    ) -> Result<Option<CustomerLogin>, StoreError> {
        let row =
            sqlx::query("SELECT customer_id, password_hash FROM customers WHERE username = $1")
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
             WHERE customer_id = $1",
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
            // An admin's hand-written attributes that are not a JSON object are left out rather
            // than failing every profile read of that customer.
            attributes: match serde_json::from_str(&attributes) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            },
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
