//! The driving side: each adapter turns its protocol into use-case calls and the
//! answers back into its protocol, with one mapping of domain errors each.

pub mod cli;
pub mod graphql;
pub mod pages;
pub mod rest;
pub mod serve;
