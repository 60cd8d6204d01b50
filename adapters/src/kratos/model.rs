//! Kratos's wire shapes (`identity`, `errorGeneric`), read leniently where
//! Kratos omits fields and strictly where the service depends on them.

use std::collections::HashMap;

use identity_link_ports::{
    AuthId, IdentityError, IdentityState, KratosIdentity, VerifiableAddress,
};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct IdentityDto {
    id: Uuid,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    traits: Value,
    #[serde(default)]
    verifiable_addresses: Option<Vec<AddressDto>>,
    #[serde(default)]
    credentials: Option<HashMap<String, CredentialsDto>>,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AddressDto {
    value: String,
    verified: bool,
    #[serde(default)]
    via: String,
}

#[derive(Debug, Deserialize)]
struct CredentialsDto {
    #[serde(default)]
    identifiers: Option<Vec<String>>,
}

impl IdentityDto {
    /// # Errors
    /// `Malformed` when the traits are not an object.
    pub fn into_domain(self) -> Result<KratosIdentity, IdentityError> {
        if !(self.traits.is_object() || self.traits.is_null()) {
            return Err(IdentityError::Malformed(format!(
                "identity {} has traits that are not an object",
                self.id
            )));
        }
        let state = match self.state.as_deref() {
            None | Some("active") => IdentityState::Active,
            Some("inactive") => IdentityState::Inactive,
            Some(other) => IdentityState::Other(other.to_owned()),
        };
        let mut credential_identifiers: Vec<String> = self
            .credentials
            .unwrap_or_default()
            .into_values()
            .flat_map(|credentials| credentials.identifiers.unwrap_or_default())
            .collect();
        credential_identifiers.sort();
        credential_identifiers.dedup();
        Ok(KratosIdentity {
            id: AuthId::new(self.id),
            state,
            traits: self.traits,
            verifiable_addresses: self
                .verifiable_addresses
                .unwrap_or_default()
                .into_iter()
                .map(|address| VerifiableAddress {
                    value: address.value,
                    verified: address.verified,
                    via: address.via,
                })
                .collect(),
            credential_identifiers,
            external_id: self.external_id.filter(|id| !id.is_empty()),
        })
    }
}

/// Reads one identity from Kratos's JSON shape.
///
/// # Errors
/// `Malformed` when the value is not an identity.
pub fn identity_from_json(value: Value) -> Result<KratosIdentity, IdentityError> {
    serde_json::from_value::<IdentityDto>(value)
        .map_err(|error| IdentityError::Malformed(error.to_string()))?
        .into_domain()
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
    #[serde(default)]
    reason: Option<String>,
}

/// The `error.message` (and reason) of an error response, or a short excerpt of the body.
pub async fn error_message(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&body) {
        Ok(ErrorBody { error }) => match error.reason {
            Some(reason) if !reason.is_empty() => format!("{} ({reason})", error.message),
            _ => error.message,
        },
        Err(_) => {
            let excerpt: String = body.chars().take(200).collect();
            if excerpt.is_empty() {
                status.to_string()
            } else {
                excerpt
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_kratos_identity_json_with_credentials_and_addresses() {
        let identity = identity_from_json(json!({
            "id": "6f0a4e5e-4c3a-4a5e-9d8e-0d3c3c9e1a11",
            "schema_id": "default",
            "schema_url": "http://kratos/schemas/default",
            "state": "active",
            "traits": {"email": "a@example.com"},
            "verifiable_addresses": [{"value": "a@example.com", "verified": true, "via": "email", "status": "completed"}],
            "credentials": {
                "password": {"type": "password", "identifiers": ["a@example.com"]},
                "oidc": {"type": "oidc", "identifiers": ["google:123"]}
            },
            "external_id": ""
        }))
        .unwrap();
        assert_eq!(identity.state, IdentityState::Active);
        assert_eq!(
            identity.credential_identifiers,
            ["a@example.com", "google:123"]
        );
        assert!(identity.verifiable_addresses[0].verified);
        assert_eq!(identity.external_id, None);
    }

    #[test]
    fn rejects_identities_without_an_id_or_with_scalar_traits() {
        assert!(identity_from_json(json!({"traits": {}})).is_err());
        let scalar = json!({"id": "6f0a4e5e-4c3a-4a5e-9d8e-0d3c3c9e1a11", "traits": "x"});
        assert!(matches!(
            identity_from_json(scalar),
            Err(IdentityError::Malformed(_))
        ));
    }
}
