pub mod customer;
pub mod discovery;
pub mod health;
pub mod metrics;
pub mod profile;
pub mod revocation;
pub mod token;
pub mod widgets;
