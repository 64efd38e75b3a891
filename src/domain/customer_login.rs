//! Customer login: username and password for a short-lived customer token whose subject is the
//! opaque customer id.

use crate::domain::usage::Credential;
use secrecy::ExposeSecret;

use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::domain::limits::Keys;
use crate::domain::{Authority, Error};
use crate::security::hashing::bind;
use crate::security::tokens::Issued;
use crate::wire::login::LoginRequest;

/// One answer, in one time, for an unknown user and a wrong password: an unknown user is
/// verified against the dummy hash.
pub async fn login(
    auth: &Authority,
    req: LoginRequest,
    caller: &Caller,
    now_millis: i64,
) -> Result<Issued, Error> {
    let now_secs = now_millis.div_euclid(1000);
    let keys = Keys::user(req.username.as_str(), caller.source.as_deref());
    let attempt = auth
        .limits
        .begin(keys, now_secs)
        .await
        .map_err(Error::TooManyRequests)?;
    let found = auth.store.customer_login(&req.username).await?;
    let (phc, context) = match &found {
        Some(c) => (Some(c.password_hash.clone()), c.customer_id.as_str()),
        None => (None, ""),
    };
    let ok = auth
        .hasher
        .verify(phc, bind(context, req.password.expose_secret()))
        .await?;
    let customer = match found {
        Some(c) if ok => c,
        other => {
            // The username is personal data: the trail keeps the customer id when there is one.
            let mut event = AuditEvent::new(AuditKind::LoginFailed, caller, now_millis);
            if let Some(c) = other {
                event = event.customer(c.customer_id.as_str());
            }
            auth.audit.record(event).await?;
            let failures = attempt.failed();
            tokio::time::sleep(auth.limits.login_delay(failures)).await;
            return Err(Error::InvalidCredentials);
        }
    };
    auth.audit
        .record(
            AuditEvent::new(AuditKind::LoginSucceeded, caller, now_millis)
                .customer(customer.customer_id.as_str()),
        )
        .await?;
    let issued = auth
        .tokens
        .issue_customer_token(&customer.customer_id, now_millis)?;
    auth.usage
        .used(Credential::SigningKey, &issued.kid, now_millis);
    Ok(issued)
}
