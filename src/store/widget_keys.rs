//! `widget_keys`: the signing keys of chat-widget profiles that a vendor verifies with a public
//! key, private parts sealed under the master key like the server's own.

use sqlx::Row;

use super::keys::KeyInsert;
use super::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct StoredWidgetKey {
    pub kid: String,
    pub profile: String,
    pub alg: String,
    /// nonce || AES-256-GCM(PKCS#8) under the master key, the kid as associated data.
    pub sealed_private: Vec<u8>,
    pub public_jwk: String,
    /// A self-signed X.509 certificate (DER) of the key, published as the JWK's `x5c`.
    pub certificate: Option<Vec<u8>>,
    pub created_at: i64,
    /// Leaves the profile's JWKS then.
    pub retires_at: Option<i64>,
    pub rotated_from: Option<String>,
}

impl Store {
    /// Every key of every profile, oldest first.
    pub async fn widget_keys(&self) -> Result<Vec<StoredWidgetKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, profile, alg, sealed_private, public_jwk, certificate, created_at, \
             retires_at, rotated_from FROM widget_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.note(e))?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredWidgetKey {
                    kid: r.try_get("kid")?,
                    profile: r.try_get("profile")?,
                    alg: r.try_get("alg")?,
                    sealed_private: r.try_get("sealed_private")?,
                    public_jwk: r.try_get("public_jwk")?,
                    certificate: r.try_get("certificate")?,
                    created_at: r.try_get("created_at")?,
                    retires_at: r.try_get("retires_at")?,
                    rotated_from: r.try_get("rotated_from")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Stores a profile's first key. Instances starting together on a new profile all try; the
    /// unique `first_of` lets exactly one win, and the others reload and use its key.
    pub async fn insert_first_widget_key(&self, k: &StoredWidgetKey) -> Result<(), StoreError> {
        insert(k, Some(&k.profile))
            .execute(&self.pool)
            .await
            .map_err(|e| self.note(e))?;
        Ok(())
    }

    /// Adds a rotated-in key and schedules the retirement of the keys it replaces, in one
    /// transaction. `false` when another rotation of the same key won (unique `rotated_from`).
    pub async fn rotate_widget_key(
        &self,
        k: &StoredWidgetKey,
        retiring: &[String],
        retires_at: i64,
    ) -> Result<bool, StoreError> {
        self.insert_and_retire(insert(k, None), "widget_keys", retiring, retires_at)
            .await
    }
}

fn insert<'q>(k: &'q StoredWidgetKey, first_of: Option<&'q str>) -> KeyInsert<'q> {
    sqlx::query(
        "INSERT INTO widget_keys (kid, profile, alg, sealed_private, public_jwk, certificate, \
         first_of, created_at, rotated_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&k.kid)
    .bind(&k.profile)
    .bind(&k.alg)
    .bind(&k.sealed_private)
    .bind(&k.public_jwk)
    .bind(&k.certificate)
    .bind(first_of)
    .bind(k.created_at)
    .bind(&k.rotated_from)
}
