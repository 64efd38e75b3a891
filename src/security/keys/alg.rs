//! The signing algorithms tollgate's own keys use (RFC 7518 names).

use std::fmt;
use std::str::FromStr;

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

/// Signing algorithms (RFC 7518 names): the server's four, and two more for widget keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "HS256")]
    Hs256,
    /// Widget profile keys only (Salesforce accepts RS512).
    #[serde(rename = "RS512")]
    Rs512,
    /// Widget profile keys only.
    #[serde(rename = "PS256")]
    Ps256,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Hs256 => "HS256",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
        }
    }

    /// The algorithms a widget profile's own key may use: asymmetric ones only, since the
    /// vendor verifies with the published public key.
    pub fn widget(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::Rs256),
            "RS512" => Some(Self::Rs512),
            "PS256" => Some(Self::Ps256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rs256 | Self::Rs512 | Self::Ps256)
    }

    pub fn jwt(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Rs256 => Algorithm::RS256,
            Self::Hs256 => Algorithm::HS256,
            Self::Rs512 => Algorithm::RS512,
            Self::Ps256 => Algorithm::PS256,
        }
    }
}

impl FromStr for Alg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            "RS256" => Ok(Self::Rs256),
            "HS256" => Ok(Self::Hs256),
            other => Err(format!(
                "expected ES256, EdDSA, RS256 or HS256, got {other:?}"
            )),
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
