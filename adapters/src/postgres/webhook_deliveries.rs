//! Webhook deliveries in Postgres (`kratos_webhook_deliveries` of `V4__webhook.sql`):
//! answers kept by trigger id, so that a redelivery is answered alike.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use identity_link_ports::{
    AuthId, DeliveryRecord, StoreError, TriggerId, UserId, WebhookDeliveries,
};
use tokio_postgres::types::Type;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{store_error, PgPool};

/// Webhook deliveries in Postgres.
#[derive(Clone)]
pub struct PostgresWebhookDeliveries {
    pool: PgPool,
}

impl PostgresWebhookDeliveries {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn delivery_from_row(row: &Row) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        outcome: row.try_get("outcome").map_err(store_error)?,
        refused: row.try_get("refused").map_err(store_error)?,
        auth_id: row
            .try_get::<_, Option<Uuid>>("auth_id")
            .map_err(store_error)?
            .map(AuthId::new),
        user_id: row
            .try_get::<_, Option<Uuid>>("user_id")
            .map_err(store_error)?
            .map(UserId::new),
    })
}

#[async_trait]
impl WebhookDeliveries for PostgresWebhookDeliveries {
    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn redelivered(&self, trigger: &TriggerId) -> Result<Option<DeliveryRecord>, StoreError> {
        let conn = self.pool.get().await?;
        conn.sql()
            .query_opt(
                &*conn,
                "UPDATE kratos_webhook_deliveries
                    SET redeliveries = redeliveries + 1, last_redelivered_at = now()
                  WHERE trigger_id = $1
                  RETURNING outcome, refused, auth_id, user_id",
                &[(&trigger.as_str(), Type::TEXT)],
            )
            .await
            .map_err(store_error)?
            .as_ref()
            .map(delivery_from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(otel.kind = "client", db.system.name = "postgresql"))]
    async fn record(
        &self,
        trigger: &TriggerId,
        record: &DeliveryRecord,
    ) -> Result<bool, StoreError> {
        let conn = self.pool.get().await?;
        let inserted = conn
            .sql()
            .execute(
                &*conn,
                "INSERT INTO kratos_webhook_deliveries (trigger_id, outcome, refused, auth_id, user_id)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (trigger_id) DO NOTHING",
                &[
                    (&trigger.as_str(), Type::TEXT),
                    (&record.outcome, Type::TEXT),
                    (&record.refused, Type::BOOL),
                    (&record.auth_id.map(|id| id.as_uuid()), Type::UUID),
                    (&record.user_id.map(|id| id.as_uuid()), Type::UUID),
                ],
            )
            .await
            .map_err(store_error)?;
        Ok(inserted == 1)
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let conn = self.pool.get().await?;
        conn.sql()
            .execute(
                &*conn,
                "DELETE FROM kratos_webhook_deliveries WHERE answered_at < $1",
                &[(&before, Type::TIMESTAMPTZ)],
            )
            .await
            .map_err(store_error)
    }
}
