//! `tollgate customer …`: customers who log in with a username and password. Every command
//! but `create` names the customer by `--username` or by `--id` (the opaque customer id).

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{CliError, print, read_stdin_secret, rfc3339};
use crate::app::open_store;
use crate::config::Settings;
use crate::domain::lifecycle::{self, CustomerChange};
use crate::domain::provisioning::{self, NewCustomer};
use crate::store::{CustomerKey, CustomerRow};

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
    /// Show a customer (never the password hash).
    Show {
        #[command(flatten)]
        who: Who,
    },
    /// Change a customer's profile; an empty value clears a field. Prints the customer.
    Update {
        #[command(flatten)]
        who: Who,
        /// A new login name.
        #[arg(long)]
        new_username: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// A JSON object that replaces the customer's attributes.
        #[arg(long)]
        attributes: Option<String>,
    },
    /// Disable a customer: logins fail and the profile is no longer served, at once.
    Disable {
        #[command(flatten)]
        who: Who,
    },
    /// Enable a disabled customer again.
    Enable {
        #[command(flatten)]
        who: Who,
    },
    /// Delete a customer and their profile.
    Delete {
        #[command(flatten)]
        who: Who,
    },
    /// Set a customer's password, read from standard input.
    SetPassword {
        #[command(flatten)]
        who: Who,
        /// Read the password from standard input (required: passwords never go on the
        /// command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// Which customer: by login name or by opaque id, exactly one.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Who {
    #[arg(long)]
    username: Option<String>,
    /// The opaque customer id.
    #[arg(long)]
    id: Option<String>,
}

impl Who {
    fn key(&self) -> Result<CustomerKey, CliError> {
        Ok(lifecycle::customer_key(
            self.username.as_deref(),
            self.id.as_deref(),
        )?)
    }
}

fn attributes(raw: Option<String>) -> Result<Option<Value>, CliError> {
    raw.map(|a| serde_json::from_str(&a))
        .transpose()
        .map_err(|e| CliError::Usage(format!("--attributes is not JSON: {e}")))
}

pub async fn run(command: CustomerCommand, settings: &Settings, now: i64) -> Result<(), CliError> {
    match command {
        CustomerCommand::Create {
            username,
            password_stdin: _,
            name,
            email,
            phone,
            attributes: raw,
        } => {
            let password = read_stdin_secret("password")?;
            let attributes = attributes(raw)?;
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
        }
        CustomerCommand::Show { who } => {
            let key = who.key()?;
            let store = open_store(settings).await?;
            print(&customer_json(&lifecycle::customer(&store, &key).await?));
        }
        CustomerCommand::Update {
            who,
            new_username,
            name,
            email,
            phone,
            attributes: raw,
        } => {
            let key = who.key()?;
            let change = CustomerChange {
                username: new_username,
                name,
                email,
                phone,
                attributes: attributes(raw)?,
            };
            let store = open_store(settings).await?;
            let row = lifecycle::update_customer(&store, &key, change, now).await?;
            print(&customer_json(&row));
        }
        CustomerCommand::Disable { who } => {
            let key = who.key()?;
            let store = open_store(settings).await?;
            let row = lifecycle::set_customer_disabled(&store, &key, true, now).await?;
            print(&customer_json(&row));
        }
        CustomerCommand::Enable { who } => {
            let key = who.key()?;
            let store = open_store(settings).await?;
            let row = lifecycle::set_customer_disabled(&store, &key, false, now).await?;
            print(&customer_json(&row));
        }
        CustomerCommand::Delete { who } => {
            let key = who.key()?;
            let store = open_store(settings).await?;
            let id = lifecycle::delete_customer(&store, &key, now).await?;
            print(&json!({"customer_id": id.as_str(), "deleted": true}));
        }
        CustomerCommand::SetPassword { who, .. } => {
            let key = who.key()?;
            let password = read_stdin_secret("password")?;
            let store = open_store(settings).await?;
            let id =
                lifecycle::set_customer_password(&store, &key, &password, &settings.argon2, now)
                    .await?;
            print(&json!({"customer_id": id.as_str(), "password_set": true}));
        }
    }
    Ok(())
}

/// A customer as `show`, `update`, `disable` and `enable` print it.
fn customer_json(row: &CustomerRow) -> Value {
    json!({
        "customer_id": row.customer_id.as_str(),
        "username": row.username,
        "name": row.name,
        "email": row.email,
        "phone": row.phone,
        "attributes": row.attributes,
        "enabled": row.disabled_at.is_none(),
        "disabled_at": row.disabled_at.map(|t| rfc3339(t * 1000)),
        "created_at": rfc3339(row.created_at * 1000),
        "updated_at": row.updated_at.map(|t| rfc3339(t * 1000)),
    })
}
