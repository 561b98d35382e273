//! shardgate's server side: the MySQL protocol for clients (`protocol`), sessions
//! (`session`), our pooled backend client (`backend`), the engine that executes plans and merges shard results (`engine`), the
//! accept loop (`server`), the sandbox of throwaway MariaDB servers (`sandbox`) and the
//! `shardgate` command line (`cli`).

pub mod backend;
pub mod cli;
pub mod drain;
pub mod engine;
pub mod error;
pub mod fd_limit;
pub mod keygen;
pub mod kill_switch;
pub mod login_throttle;
pub mod migration;
pub mod protocol;
pub mod reload;
pub mod rules;
pub mod sandbox;
pub mod server;
pub mod session;
pub mod session_registry;
pub mod telemetry;
pub mod tls;
