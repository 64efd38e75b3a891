//! `tollgate customer …`: customers who log in with a username and password.

use clap::Subcommand;
use serde_json::json;

use super::{CliError, print, read_stdin_secret};
use crate::app::open_store;
use crate::config::Settings;
use crate::domain::provisioning::{self, NewCustomer};

#[derive(Subcommand)]
pub enum CustomerCommand {
    /// Create a customer; prints the opaque customer id.
    Create {
        #[arg(long)]
        username: String,
        /// Read the password from standard input (required: passwords never go on the
        /// command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// E.164, e.g. +14155550100.
        #[arg(long)]
        phone: Option<String>,
        /// Further profile attributes as a JSON object.
        #[arg(long)]
        attributes: Option<String>,
    },
}

pub async fn run(command: CustomerCommand, settings: &Settings, now: i64) -> Result<(), CliError> {
    let CustomerCommand::Create {
        username,
        password_stdin: _,
        name,
        email,
        phone,
        attributes,
    } = command;
    let password = read_stdin_secret("password")?;
    let attributes = attributes
        .map(|a| serde_json::from_str(&a))
        .transpose()
        .map_err(|e| CliError::Usage(format!("--attributes is not JSON: {e}")))?;
    let store = open_store(settings).await?;
    let spec = NewCustomer {
        username,
        password,
        name,
        email,
        phone,
        attributes,
    };
    let id = provisioning::create_customer(&store, spec, &settings.argon2, now).await?;
    print(&json!({"customer_id": id.as_str()}));
    Ok(())
}
