//! The OpenAPI document describes the widget endpoints and how a visitor authenticates.

use serde_json::{Value, json};

use super::*;
use crate::backend_test;
use crate::support::*;

backend_test! {
    async fn openapi_describes_the_widget_endpoints(backend) {
        let app = spawn(backend, vec![]).await;
        let doc: Value = get(&app, "/openapi.json", None, None).await.json().await.unwrap();
        let paths = &doc["paths"];
        assert!(paths["/widget_tokens/{name}"]["get"].is_object(), "{paths}");
        assert!(paths["/widget_tokens/{name}"]["post"].is_object());
        assert!(paths["/widget_tokens/{name}/config"]["get"].is_object());
        // The visitor is a customer (token or cookie) or anonymous; never a partner's bearer token.
        assert_eq!(paths["/widget_tokens/{name}"]["get"]["security"], json!([{}, {"customer_token": []}]));
        assert_eq!(doc["components"]["securitySchemes"]["customer_token"]["scheme"], "bearer");
        // Without profiles, the vendor sample paths answer a JSON 404.
        assert_eq!(error_of(get(&app, "/auth/token", None, None).await).await.0, 404);
    }
}
