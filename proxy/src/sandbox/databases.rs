//! Creates a topology's physical databases on the servers that hold them.

use mysql_async::prelude::Queryable;
use shardgate_config::Topology;

/// Connection options for a backend of the topology.
pub fn backend_opts(topology: &Topology, backend: usize) -> mysql_async::Opts {
    let b = &topology.backends[backend];
    let (host, port) = b
        .address
        .rsplit_once(':')
        .unwrap_or((b.address.as_str(), "3306"));
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(host.to_string())
        .tcp_port(port.parse().unwrap_or(3306))
        .user(Some(b.user.clone()))
        .pass(Some(b.password.clone()))
        .prefer_socket(false)
        .into()
}

/// `CREATE DATABASE IF NOT EXISTS` for every physical database, on its own backend.
pub async fn create_physical_databases(topology: &Topology) -> Result<(), mysql_async::Error> {
    for backend in 0..topology.backends.len() {
        let mut conn = mysql_async::Conn::new(backend_opts(topology, backend)).await?;
        for db in topology.databases.iter().filter(|d| d.backend == backend) {
            conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{}`", db.name))
                .await?;
        }
        conn.disconnect().await?;
    }
    Ok(())
}
