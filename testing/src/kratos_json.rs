//! Kratos's wire shapes, as its OpenAPI document describes them: an `identity`
//! and the `errorGeneric` body.

use serde_json::{json, Value};
use uuid::Uuid;

/// The id prefix of numbered identities; the last 12 hex digits are the number.
pub const NUMBERED_ID_PREFIX: &str = "1d000000-0000-4000-8000-";

/// An active identity with one email address: the `email` trait, one
/// verifiable address (`verified` or still being verified), one recovery
/// address and a password whose identifier is the email in lower case.
pub fn identity(id: Uuid, email: &str, verified: bool) -> Value {
    json!({
        "id": id,
        "schema_id": "default",
        "schema_url": "http://kratos.test/schemas/ZGVmYXVsdA",
        "state": "active",
        "state_changed_at": "2026-01-01T00:00:00Z",
        "traits": {
            "email": email,
            "name": {"first": "Test", "last": "User"}
        },
        "verifiable_addresses": [{
            "id": Uuid::new_v4(),
            "value": email,
            "verified": verified,
            "via": "email",
            "status": if verified { "completed" } else { "sent" }
        }],
        "recovery_addresses": [{"id": Uuid::new_v4(), "value": email, "via": "email"}],
        "credentials": {
            "password": {"type": "password", "identifiers": [email.to_lowercase()], "version": 0}
        },
        "metadata_public": null,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z"
    })
}

/// Kratos's error body (`errorGeneric`).
pub fn error(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "status": status, "message": message}})
}

/// The id of numbered identity `n`: `1d000000-0000-4000-8000-{n as 12 hex digits}`,
/// so that id order is `n` order and SQL can compute it (`n` below 2^48).
pub fn numbered_id(n: u64) -> Uuid {
    const PREFIX: u128 = 0x1d00_0000_0000_4000_8000_0000_0000_0000;
    Uuid::from_u128(PREFIX | (u128::from(n) & 0xffff_ffff_ffff))
}

/// Numbered identity `n` with the address `email`: verified, also the password
/// identifier (in lower case), named `User` / `{n}`.
pub fn numbered_identity(n: u64, email: &str) -> Value {
    numbered_shape(&NumberedFields {
        id: &numbered_id(n).to_string(),
        email,
        identifier: &email.to_lowercase(),
        number: &n.to_string(),
        address_id: &Uuid::from_u128(u128::from(n) << 1).to_string(),
        recovery_id: &Uuid::from_u128((u128::from(n) << 1) | 1).to_string(),
    })
}

/// The text fields of a numbered identity (placeholders, for a template).
pub(crate) struct NumberedFields<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub identifier: &'a str,
    pub number: &'a str,
    pub address_id: &'a str,
    pub recovery_id: &'a str,
}

pub(crate) fn numbered_shape(fields: &NumberedFields<'_>) -> Value {
    json!({
        "id": fields.id,
        "schema_id": "default",
        "schema_url": "http://127.0.0.1/schemas/ZGVmYXVsdA",
        "state": "active",
        "state_changed_at": "2026-01-01T00:00:00Z",
        "traits": {"email": fields.email, "name": {"first": "User", "last": fields.number}},
        "verifiable_addresses": [{
            "id": fields.address_id,
            "value": fields.email, "verified": true, "via": "email", "status": "completed",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }],
        "recovery_addresses": [{"id": fields.recovery_id, "value": fields.email, "via": "email"}],
        "credentials": {"password": {"type": "password", "identifiers": [fields.identifier], "version": 0}},
        "metadata_public": null,
        "organization_id": null,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_ids_carry_the_number_in_their_last_twelve_hex_digits() {
        assert_eq!(
            numbered_id(0).to_string(),
            "1d000000-0000-4000-8000-000000000000"
        );
        assert_eq!(
            numbered_id(0xabc_def).to_string(),
            format!("{NUMBERED_ID_PREFIX}000000abcdef")
        );
        assert!(numbered_id(9) < numbered_id(10), "id order is number order");
    }

    #[test]
    fn a_numbered_identity_is_verified_and_named_after_its_number() {
        let identity = numbered_identity(42, "User42@Example.com");
        assert_eq!(identity["id"], numbered_id(42).to_string());
        assert_eq!(identity["traits"]["email"], "User42@Example.com");
        assert_eq!(identity["traits"]["name"]["last"], "42");
        assert_eq!(identity["verifiable_addresses"][0]["verified"], true);
        assert_eq!(
            identity["credentials"]["password"]["identifiers"][0],
            "user42@example.com"
        );
    }

    #[test]
    fn errors_have_kratos_s_generic_shape() {
        let body = error(404, "Not Found", "Unable to locate the resource");
        assert_eq!(body["error"]["code"], 404);
        assert_eq!(body["error"]["status"], "Not Found");
        assert_eq!(body["error"]["message"], "Unable to locate the resource");
    }
}
