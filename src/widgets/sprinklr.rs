//! Sprinklr live chat user verification: not a JWT. The page passes the user's fields and a
//! hex HMAC-SHA256, under the API key, of `userId_firstName_lastName_profileImageUrl_phoneNo_
//! email_hashCreationTime` (a missing field keeps its underscores; the time in milliseconds;
//! Sprinklr accepts it within a minute by default). The answer is the `user` object of
//! `window.sprChatSettings` as the vendor's example shows it, so the page passes it as it is.
//! https://www.sprinklr.com/help/articles/initialize-sprinklr-live-chat/how-to-generate-hash/683930dc0a718d29a525c7e0
//! https://www.sprinklr.com/help/articles/customer-authentication/customer-authentication/63f255f09b334f7283b4c9a1

use std::collections::HashMap;

use aws_lc_rs::hmac;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::generic::split_name;
use super::presets::SprinklrConfig;
use super::{Visitor, named_secret};
use crate::domain::Error;

/// The customer attribute that holds a profile picture's URL, if any.
const IMAGE_ATTRIBUTE: &str = "profile_image_url";

pub struct Sprinklr {
    key: hmac::Key,
}

impl Sprinklr {
    pub fn from_config(
        c: &SprinklrConfig,
        secrets: &HashMap<String, SecretString>,
    ) -> Result<Self, String> {
        let api_key = named_secret(&c.secret_env, "secret_env", secrets)?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, api_key.expose_secret().as_bytes()),
        })
    }

    pub fn issue(&self, visitor: &Visitor, now_millis: i64) -> Result<Value, Error> {
        // Pre-authentication is for users logged in on the site; anonymous visitors chat
        // unauthenticated without any of this.
        let Visitor::Customer(id, profile) = visitor else {
            return Err(Error::LoginRequired);
        };
        let (first, last) = profile.name.as_deref().map_or(("", None), split_name);
        let image = profile
            .attributes
            .get(IMAGE_ATTRIBUTE)
            .and_then(Value::as_str)
            .unwrap_or_default();
        let fields = [
            id.as_str(),
            first,
            last.unwrap_or_default(),
            image,
            profile.phone.as_deref().unwrap_or_default(),
            profile.email.as_deref().unwrap_or_default(),
        ];
        let hash = user_hash(&self.key, &fields, Some(now_millis));
        Ok(json!({
            "id": fields[0],
            "firstName": fields[1],
            "lastName": fields[2],
            "profileImageUrl": fields[3],
            "phoneNo": fields[4],
            "email": fields[5],
            "hash": hash,
            "hashCreationTime": now_millis,
        }))
    }
}

/// Lower-case hex HMAC-SHA256 of the fields joined by `_`, the creation time last when given.
fn user_hash(key: &hmac::Key, fields: &[&str], created_millis: Option<i64>) -> String {
    let mut message = fields.join("_");
    if let Some(t) = created_millis {
        message.push('_');
        message.push_str(&t.to_string());
    }
    hmac::sign(key, message.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sprinklr's own example (the "How to Generate Hash" page): its key, its user, its hash.
    #[test]
    fn the_documented_example_hash_is_reproduced() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"acf32e61-14a6-291b-3a1b-cc8854134ea1");
        let fields = [
            "12345",
            "John",
            "Doe",
            "https://example.com/profilePic.jpg",
            "9876543210",
            "John.Doe@example.com",
        ];
        assert_eq!(
            user_hash(&key, &fields, None),
            "f30c3b0835ecd378a134c74bce8cea866df8c5b6e12a8c219c9bb288f7270e22"
        );
        // Empty fields keep their underscores; the time closes the message.
        let with_time = user_hash(&key, &["1", "", "", "", "", "e"], Some(1_754_565_280_133));
        assert_eq!(
            with_time,
            user_hash(&key, &["1_____e_1754565280133"], None),
            "userId_firstName_lastName_profileImageUrl_phoneNo_email_hashCreationTime"
        );
    }
}
