//! Adapters of identity-link's ports: Kratos over HTTP, Postgres, in-memory
//! fakes and a Kratos fixture file.

pub mod fixture;
pub mod kratos;
pub mod kratos_session;
pub mod memory;
pub mod postgres;
pub mod postgres_backfill;
