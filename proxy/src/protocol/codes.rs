//! MySQL error codes and SQLSTATEs shardgate sends itself.

pub const ER_ACCESS_DENIED_ERROR: (u16, &str) = (1045, "28000");
pub const ER_BAD_DB_ERROR: (u16, &str) = (1049, "42000");
pub const ER_UNKNOWN_COM_ERROR: (u16, &str) = (1047, "08S01");
pub const ER_NET_PACKET_TOO_LARGE: (u16, &str) = (1153, "08S01");
pub const ER_NOT_SUPPORTED_YET: (u16, &str) = (1235, "42000");
pub const ER_SP_DOES_NOT_EXIST: (u16, &str) = (1305, "42000");
pub const ER_NO_SUCH_TABLE: (u16, &str) = (1146, "42S02");
pub const ER_PARSE_ERROR: (u16, &str) = (1064, "42000");
pub const ER_SPECIFIC_ACCESS_DENIED_ERROR: (u16, &str) = (1227, "42000");
pub const ER_NO_DB_ERROR: (u16, &str) = (1046, "3D000");
pub const ER_UNKNOWN_STMT_HANDLER: (u16, &str) = (1243, "HY000");
pub const ER_WRONG_ARGUMENTS: (u16, &str) = (1210, "HY000");
pub const ER_MALFORMED_PACKET: (u16, &str) = (1835, "HY000");
pub const ER_HANDSHAKE_ERROR: (u16, &str) = (1043, "08S01");
/// A backend could not be reached (the client's analogue of CR_CONNECTION_ERROR).
pub const ER_BACKEND_UNAVAILABLE: (u16, &str) = (2013, "HY000");
pub const ER_QUERY_TIMEOUT: (u16, &str) = (3024, "HY000");
pub const ER_SECURE_TRANSPORT_REQUIRED: (u16, &str) = (3159, "HY000");
pub const ER_CANT_CHANGE_TX_CHARACTERISTICS: (u16, &str) = (1568, "25001");
pub const ER_WRONG_VALUE_COUNT_ON_ROW: (u16, &str) = (1136, "21S01");
pub const ER_UNKNOWN_ERROR: (u16, &str) = (1105, "HY000");
pub const ER_LOCK_WAIT_TIMEOUT: (u16, &str) = (1205, "HY000");
/// Drivers and ORMs retry a transaction that ends with this one.
pub const ER_LOCK_DEADLOCK: (u16, &str) = (1213, "40001");
/// Too many connections: also what a statement gets when every pooled connection of its
/// backend stays in use (a retry is safe; nothing ran).
pub const ER_CON_COUNT_ERROR: (u16, &str) = (1040, "08004");
/// The proxy is stopping (SIGTERM): the client's connection ends.
pub const ER_SERVER_SHUTDOWN: (u16, &str) = (1053, "08S01");
/// A client closed for inactivity (here: a transaction idle past
/// `proxy.idle_transaction_timeout_ms`), as MySQL 8 tells it before closing.
pub const ER_CLIENT_INTERACTION_TIMEOUT: (u16, &str) = (4031, "HY000");
/// A statement interrupted by KILL QUERY (or KILL CONNECTION).
pub const ER_QUERY_INTERRUPTED: (u16, &str) = (1317, "70100");
/// The session was ended by KILL (MariaDB's code).
pub const ER_CONNECTION_KILLED: (u16, &str) = (1927, "70100");
pub const ER_NO_SUCH_THREAD: (u16, &str) = (1094, "HY000");
pub const ER_KILL_DENIED_ERROR: (u16, &str) = (1095, "HY000");
