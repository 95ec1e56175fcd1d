//! End-to-end tests: the real server on an ephemeral loopback port, called through the generated
//! tonic client, on SQLite and on PostgreSQL (row-level security on).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod harness;
#[path = "../support/jetstream.rs"]
mod jetstream;
#[path = "../support/sinks.rs"]
mod sinks;

mod audit;
mod auth;
mod authz_matrix;
mod bad_input;
mod bench_smoke;
mod board_report;
mod calendar;
mod catalog;
mod coordination;
mod demo;
mod departments;
mod events_out;
mod examples;
mod export;
mod feedback;
mod group_commit;
mod import;
mod limits;
mod notice_senders;
mod notices;
mod officers;
mod oidc;
mod open311;
mod open311_attributes;
mod open311_client;
mod open311_spec;
mod panels;
mod replicas;
mod report_scenario;
mod server;
mod service_accounts;
mod streams;
mod string_fields;
mod themes;
mod tools;
mod touchpoints;
