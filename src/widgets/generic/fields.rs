//! The customer fields a template maps to claims, and how a value lands at a dotted claim path.

use serde_json::{Map, Value, json};

use crate::store::Profile;
use crate::widgets::{Visitor, e164};

/// Customer fields a claim may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Field {
    /// The opaque customer id (or, when anonymous visitors are allowed, the anonymous id).
    Id,
    Name,
    /// The name up to its last space; all of it when it has none.
    FirstName,
    /// The name after its last space.
    LastName,
    Email,
    Phone,
    /// One of the customer's stored attributes.
    Attribute(String),
    /// LivePerson's engagement attributes of the customer (`lp_sdes`).
    LivepersonSdes,
}

pub(super) fn parse_field(claim: &str, field: &str) -> Result<Field, String> {
    Ok(match field {
        "id" => Field::Id,
        "name" => Field::Name,
        "first_name" => Field::FirstName,
        "last_name" => Field::LastName,
        "email" => Field::Email,
        "phone" => Field::Phone,
        "liveperson_sdes" => Field::LivepersonSdes,
        other => match other.strip_prefix("attributes.") {
            Some(key) if !key.is_empty() => Field::Attribute(key.to_owned()),
            _ => {
                return Err(format!(
                    "customer_claims.{claim}: unknown field {other:?} (id, name, first_name, \
                     last_name, email, phone, attributes.<key>, liveperson_sdes)"
                ));
            }
        },
    })
}

impl Field {
    /// The field's value for `visitor`; `None` when the visitor has none (the claim is left
    /// out, or takes the template's default).
    pub(super) fn value(&self, visitor: &Visitor) -> Option<Value> {
        let profile = visitor.profile();
        let name = profile.and_then(|p| p.name.as_deref());
        match self {
            Self::Id => Some(json!(visitor.id())),
            Self::Name => name.map(|n| json!(n)),
            Self::FirstName => name.map(|n| json!(split_name(n).0)),
            Self::LastName => name.and_then(|n| split_name(n).1).map(|l| json!(l)),
            Self::Email => profile.and_then(|p| p.email.as_deref()).map(|e| json!(e)),
            Self::Phone => profile
                .and_then(|p| e164(p.phone.as_deref()))
                .map(|p| json!(p)),
            Self::Attribute(key) => profile.and_then(|p| p.attributes.get(key)).cloned(),
            Self::LivepersonSdes => Some(liveperson_sdes(visitor.id(), profile)),
        }
    }
}

/// The Customer Info fields LivePerson documents (besides `customerId`, which is the customer's
/// opaque id): a customer attribute of one of these names is passed on.
const CTMRINFO_FIELDS: [&str; 16] = [
    "cstatus",
    "ctype",
    "balance",
    "currency",
    "socialId",
    "imei",
    "userName",
    "companySize",
    "companyBranch",
    "accountName",
    "role",
    "lastPaymentDate",
    "registrationDate",
    "loginStatus",
    "storeNumber",
    "storeZipCode",
];
/// The Personal Info fields LivePerson documents besides the name and contacts.
const PERSONAL_FIELDS: [&str; 4] = ["age", "gender", "language", "company"];

/// LivePerson's `lp_sdes` claim: the authenticated engagement attributes (SDEs) an agent sees,
/// as an array of typed objects. `ctmrinfo` carries the customer id and the customer's stored
/// attributes of documented Customer Info names; `personal` the name (split at the last
/// space), the contacts (email, E.164 phone) and the stored attributes of documented Personal
/// Info names, and is left out when there is nothing to say.
/// The field names are those of https://developers.liveperson.com/engagement-attributes-types-of-engagement-attributes.html;
/// the claim's shape is LivePerson's example JWT for authenticated customer info (its guide
/// "Authenticated Interactions with oAuth 2.0"): `lp_sdes: [{type: "ctmrinfo", info: {…}},
/// {type: "personal", personal: {firstname, lastname, contacts: [{email, phone}], …}}]`.
fn liveperson_sdes(id: &str, profile: Option<&Profile>) -> Value {
    let attribute = |key: &str| profile.and_then(|p| p.attributes.get(key)).cloned();
    let mut info = Map::new();
    info.insert("customerId".into(), json!(id));
    for key in CTMRINFO_FIELDS {
        if let Some(v) = attribute(key) {
            info.insert(key.into(), v);
        }
    }
    let mut sdes = vec![json!({"type": "ctmrinfo", "info": info})];
    let mut personal = Map::new();
    if let Some(name) = profile.and_then(|p| p.name.as_deref()) {
        let (first, last) = split_name(name);
        personal.insert("firstname".into(), json!(first));
        if let Some(last) = last {
            personal.insert("lastname".into(), json!(last));
        }
    }
    let mut contact = Map::new();
    if let Some(email) = profile.and_then(|p| p.email.as_deref()) {
        contact.insert("email".into(), json!(email));
    }
    if let Some(phone) = profile.and_then(|p| e164(p.phone.as_deref())) {
        contact.insert("phone".into(), json!(phone));
    }
    if !contact.is_empty() {
        personal.insert("contacts".into(), json!([contact]));
    }
    for key in PERSONAL_FIELDS {
        if let Some(v) = attribute(key) {
            personal.insert(key.into(), v);
        }
    }
    if !personal.is_empty() {
        sdes.push(json!({"type": "personal", "personal": personal}));
    }
    Value::Array(sdes)
}

/// `("Ada", Some("Lovelace"))` for "Ada Lovelace": split at the last space, so that a compound
/// given name stays whole.
pub(in crate::widgets) fn split_name(name: &str) -> (&str, Option<&str>) {
    match name.trim().rsplit_once(' ') {
        Some((first, last)) => (first.trim_end(), Some(last)),
        None => (name.trim(), None),
    }
}

/// Puts `value` at the dotted `path`, creating the objects on the way (paths were checked at
/// start-up not to collide).
pub(super) fn insert(claims: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            claims.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = claims
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = child {
                insert(map, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths_nest() {
        let mut m = Map::new();
        insert(&mut m, "grants.identity", json!("u"));
        insert(&mut m, "grants.chat.service_sid", json!("IS1"));
        insert(&mut m, "sub", json!("AC1"));
        assert_eq!(
            Value::Object(m),
            json!({"grants": {"identity": "u", "chat": {"service_sid": "IS1"}}, "sub": "AC1"})
        );
    }

    #[test]
    fn names_split_at_the_last_space() {
        assert_eq!(split_name("Ada Lovelace"), ("Ada", Some("Lovelace")));
        assert_eq!(split_name("Mary Ann Evans"), ("Mary Ann", Some("Evans")));
        assert_eq!(split_name("Cher"), ("Cher", None));
    }

    #[test]
    fn a_customer_without_personal_data_gets_the_customer_info_alone() {
        assert_eq!(
            liveperson_sdes("c1", None),
            json!([{"type": "ctmrinfo", "info": {"customerId": "c1"}}])
        );
    }
}
