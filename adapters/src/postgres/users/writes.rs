//! The writes of a user, on a connection or in a transaction: creation, link
//! (compare-and-set) and profile, constraint violations mapped to domain
//! errors, and what commits with them (audit events, the write-back).

use identity_link_ports::{
    AuthId, ChangeRecord, CreateLinkedError, LinkError, NewUser, Profile, StoreError, User, UserId,
};
use tokio_postgres::types::Type;

use super::{user_from_row, BY_ID};
use crate::postgres::audit::insert_events;
use crate::postgres::outbox::enqueue_on;
use crate::postgres::sql::{Sql, Target};
use crate::postgres::{store_error, violated_constraint, AUTH_ID_KEY, EMAIL_KEY};

const CREATE: &str = concat!(
    "INSERT INTO users (id, email, first_name, last_name, avatar_url, auth_id, linked_at, email_normalized)
     VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6::uuid IS NULL THEN NULL ELSE now() END, $7)
     RETURNING ",
    user_columns!()
);
const SET_LINK: &str = concat!(
    "UPDATE users
        SET auth_id = $2,
            linked_at = CASE WHEN $2::uuid IS NULL THEN NULL ELSE now() END,
            updated_at = now()
      WHERE id = $1 AND auth_id IS NOT DISTINCT FROM $3
      RETURNING ",
    user_columns!()
);
const UPDATE_PROFILE: &str = concat!(
    "UPDATE users
        SET email = $2, email_normalized = $6, first_name = $3, last_name = $4, avatar_url = $5,
            updated_at = now()
      WHERE id = $1
      RETURNING ",
    user_columns!()
);

pub(super) async fn create_on<C: Target>(
    sql: &Sql,
    client: &C,
    new: &NewUser,
) -> Result<User, CreateLinkedError> {
    let profile = &new.profile;
    let inserted = sql
        .query_opt(
            client,
            CREATE,
            &[
                (&new.id.as_uuid(), Type::UUID),
                (&profile.email.as_str(), Type::TEXT),
                (&profile.first_name, Type::TEXT),
                (&profile.last_name, Type::TEXT),
                (&profile.avatar_url, Type::TEXT),
                (&new.auth_id.map(|id| id.as_uuid()), Type::UUID),
                (&profile.email.normalized(), Type::TEXT),
            ],
        )
        .await;
    match inserted {
        Ok(Some(row)) => Ok(user_from_row(&row)?),
        Ok(None) => {
            Err(StoreError::Unknown(anyhow::anyhow!("INSERT … RETURNING returned no row")).into())
        }
        Err(error) => Err(match violated_constraint(&error) {
            Some(EMAIL_KEY) => CreateLinkedError::EmailTaken,
            Some(AUTH_ID_KEY) => CreateLinkedError::AuthIdTaken,
            _ => CreateLinkedError::Store(store_error(error)),
        }),
    }
}

pub(super) async fn set_link_on<C: Target>(
    sql: &Sql,
    client: &C,
    id: UserId,
    new: Option<AuthId>,
    expected: Option<AuthId>,
) -> Result<User, LinkError> {
    let updated = sql
        .query_opt(
            client,
            SET_LINK,
            &[
                (&id.as_uuid(), Type::UUID),
                (&new.map(|id| id.as_uuid()), Type::UUID),
                (&expected.map(|id| id.as_uuid()), Type::UUID),
            ],
        )
        .await;
    match updated {
        Ok(Some(row)) => Ok(user_from_row(&row)?),
        Ok(None) => {
            let current = sql
                .query_opt(client, BY_ID, &[(&id.as_uuid(), Type::UUID)])
                .await
                .map_err(store_error)?;
            match current.as_ref().map(user_from_row).transpose()? {
                None => Err(LinkError::UserNotFound),
                Some(user) => Err(LinkError::Changed {
                    current: user.auth_id,
                }),
            }
        }
        Err(error) if violated_constraint(&error) == Some(AUTH_ID_KEY) => {
            Err(LinkError::AuthIdTaken)
        }
        Err(error) => Err(LinkError::Store(store_error(error))),
    }
}

pub(super) async fn update_profile_on<C: Target>(
    sql: &Sql,
    client: &C,
    id: UserId,
    profile: &Profile,
) -> Result<User, LinkError> {
    let updated = sql
        .query_opt(
            client,
            UPDATE_PROFILE,
            &[
                (&id.as_uuid(), Type::UUID),
                (&profile.email.as_str(), Type::TEXT),
                (&profile.first_name, Type::TEXT),
                (&profile.last_name, Type::TEXT),
                (&profile.avatar_url, Type::TEXT),
                (&profile.email.normalized(), Type::TEXT),
            ],
        )
        .await;
    match updated {
        Ok(Some(row)) => Ok(user_from_row(&row)?),
        Ok(None) => Err(LinkError::UserNotFound),
        Err(error) if violated_constraint(&error) == Some(EMAIL_KEY) => Err(LinkError::EmailTaken),
        Err(error) => Err(LinkError::Store(store_error(error))),
    }
}

/// Writes what commits with a change of `user`: its audit events and, when
/// asked and the user is linked now, the pending write-back of its id.
pub(super) async fn record_on<C: Target>(
    sql: &Sql,
    client: &C,
    user: &User,
    record: &ChangeRecord,
) -> Result<(), StoreError> {
    insert_events(sql, client, &record.audit)
        .await
        .map_err(store_error)?;
    if let (true, Some(auth_id), Some(first)) =
        (record.write_back, user.auth_id, record.audit.first())
    {
        enqueue_on(
            sql,
            client,
            auth_id,
            user.id,
            first.correlation_id,
            first.source,
        )
        .await
        .map_err(store_error)?;
    }
    Ok(())
}
