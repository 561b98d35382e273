//! The end-to-end tests on real MariaDB servers, linked into one binary (one link instead of
//! one per file; cargo runs the modules' tests side by side as it would a file's).

mod admin_statements;
mod client_matrix;
mod cross_joins;
mod default_deny;
mod derived_tables;
mod diagnostics_and_probes;
mod distributed_joins;
mod distributed_properties;
mod distributed_select;
mod dump_statements;
mod explain;
mod idgen;
mod kill;
mod lifecycle;
mod login_security;
mod logs;
mod metrics;
mod multi_statements;
mod mysql_spellings;
mod property_grammar;
mod protocol_bytes;
mod proxy_backend_down;
mod proxy_clients;
mod proxy_prepared;
mod proxy_robustness;
mod pymysql;
mod reload;
mod returning;
mod router_on_mariadb;
mod secrets;
mod session_state;
mod unions;
mod window_functions;
