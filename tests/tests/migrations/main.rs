//! The online migration tests, in one binary of their own: they hold leases and fences with
//! timeouts, so they run beside each other only, not beside the rest of the suite.

mod migrate_backfill;
mod migrate_cli;
mod migrate_faults;
mod migrate_in_place;
mod migrate_metrics;
mod migrate_online;
mod migrate_two_proxies;
