//! shardgate's server side. This part: the sandbox of throwaway MariaDB servers (used
//! by tests and, later, `shardgate sandbox`) and the offline commands of the `shardgate` binary.
//! The protocol server, sessions, pools and execution arrive with the proxy issue.

pub mod cli;
pub mod sandbox;
