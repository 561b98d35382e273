//! The binary protocol: COM_STMT_PREPARE / EXECUTE / SEND_LONG_DATA / RESET / CLOSE.
//!
//! A client statement is parsed and analyzed once, at PREPARE. Its parameter and column
//! definitions come from a backend preparing the statement for its first physical table. On
//! EXECUTE the typed parameters route it, and each physical statement is prepared lazily on
//! the backend connection that runs it (and kept there) and executed with just its own
//! parameters, still binary. The one exception is a read over several tables with integer
//! values and no FLOAT / DOUBLE column (see [`super::prepared_as_text`]).

use std::collections::HashMap;
use std::sync::Arc;

use shardgate_router::command::Probe;
use shardgate_router::{Metadata, ParamValue, PreparedCommand, Template};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::engine::fanout::Job;
use crate::protocol::binary_row::column_info;
use crate::protocol::codes;
use crate::protocol::resultset::TextResult;
use crate::protocol::wire::Reader;

/// What a prepared statement runs.
enum Prepared {
    /// A routed statement.
    Routed(Arc<Template>),
    /// A statement the session handles itself (BEGIN, COMMIT, SET ...): executing it is
    /// running it as text.
    Session(String),
    /// A probe (`SELECT DATABASE()`), answered from the session in the binary protocol.
    Probe(Probe),
    /// SHOW, DESCRIBE, information_schema: answered again at each execute, in the binary
    /// protocol.
    Metadata(Metadata),
}

/// A statement a client prepared.
pub(crate) struct ClientStatement {
    prepared: Prepared,
    params: u16,
    /// Parameter types (type, flags) from the last execute that bound them.
    types: Vec<[u8; 2]>,
    /// COM_STMT_SEND_LONG_DATA pieces, by parameter, until the next execute or reset.
    long_data: HashMap<u16, Vec<u8>>,
    /// A parameter's long data grew past max_allowed_packet: the next execute fails with
    /// ER_NET_PACKET_TOO_LARGE (COM_STMT_SEND_LONG_DATA itself has no answer).
    long_data_too_large: bool,
    /// No column is FLOAT or DOUBLE, whose text spelling MariaDB rounds (a FLOAT to six
    /// digits): its rows read as text re-encode to the binary rows exactly.
    rows_exact_as_text: bool,
}

#[derive(Default)]
pub(crate) struct ClientStatements {
    next_id: u32,
    map: HashMap<u32, ClientStatement>,
}

impl ClientStatements {
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }
}

/// One parameter of an execute: its type, and its value's bytes in the execute packet.
#[derive(Debug, Clone)]
struct BoundParam {
    null: bool,
    ty: [u8; 2],
    /// Byte range of the value in the client's packet; empty for NULL and long data.
    raw: std::ops::Range<usize>,
    long: bool,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(crate) async fn stmt_prepare(&mut self, sql: &str) -> Result<(), SessionError> {
        let router = self.router();
        let template = match router.plan_prepare(sql, &self.state.facts(false)) {
            Ok(PreparedCommand::Template(t)) => t,
            Ok(PreparedCommand::SessionStatement) => {
                return self.prepare_session_statement(sql).await
            }
            Ok(PreparedCommand::Probe(probe)) => return self.prepare_probe(probe).await,
            Ok(PreparedCommand::Metadata(metadata)) => {
                return self.prepare_metadata(metadata).await
            }
            Err(e) => return self.send_router_error(&e).await,
        };
        if let Some(reason) = merge_refusal(&template, router.topology()) {
            // Refused whatever the parameters: nothing goes to a backend, not even to
            // describe the statement.
            let message = format!("shardgate does not support {reason} yet");
            return self.send_error(codes::ER_NOT_SUPPORTED_YET, &message).await;
        }
        let representative = match template.representative(router.topology()) {
            Ok(r) => r,
            Err(e) => return self.send_router_error(&e).await,
        };
        let backend = representative.backend;
        let mut conn = match self.take_conn(backend).await {
            Ok(c) => c,
            Err(e) => return self.send_backend_error(&e).await,
        };
        let described = conn.prepare_with_defs(&representative.sql).await;
        self.give_back(backend, conn);
        let (stmt, param_defs, mut column_defs) = match described {
            Ok(d) => d,
            Err(e) => return self.send_backend_error(&e).await,
        };
        if usize::from(stmt.params) != template.param_count() {
            let message = format!(
                "shardgate counts {} parameters in this statement, the backend {}",
                template.param_count(),
                stmt.params
            );
            return self.send_error(codes::ER_NOT_SUPPORTED_YET, &message).await;
        }
        self.state.prepared.binary.next_id =
            self.state.prepared.binary.next_id.wrapping_add(1).max(1);
        let id = self.state.prepared.binary.next_id;
        for def in &mut column_defs {
            self.rules.names.rewrite_column(def);
        }
        let rows_exact_as_text = column_defs
            .iter()
            .all(|def| !matches!(column_info(def).column_type, 0x04 | 0x05));
        let status = self.status();
        let deprecate_eof = self.deprecate_eof();
        self.writer
            .prepare_ok(id, &param_defs, &column_defs, status, deprecate_eof)
            .await?;
        self.state.prepared.binary.map.insert(
            id,
            ClientStatement {
                prepared: Prepared::Routed(template),
                params: stmt.params,
                types: Vec::new(),
                long_data: HashMap::new(),
                long_data_too_large: false,
                rows_exact_as_text,
            },
        );
        Ok(())
    }

    pub(crate) async fn stmt_execute(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let mut r = Reader::new(body);
        let (Some(id), Some(_flags), Some(_iterations)) = (r.u32(), r.u8(), r.u32()) else {
            return self
                .send_error(
                    codes::ER_UNKNOWN_STMT_HANDLER,
                    "Unknown prepared statement handler (malformed COM_STMT_EXECUTE)",
                )
                .await;
        };
        let Some(stmt) = self.state.prepared.binary.map.get_mut(&id) else {
            let message =
                format!("Unknown prepared statement handler ({id}) given to mysqld_stmt_execute");
            return self
                .send_error(codes::ER_UNKNOWN_STMT_HANDLER, &message)
                .await;
        };
        let mut template = match &stmt.prepared {
            Prepared::Routed(t) => t.clone(),
            Prepared::Session(sql) => {
                let sql = sql.clone();
                return self.com_query(&sql).await;
            }
            Prepared::Probe(probe) => {
                let probe = probe.clone();
                let Some(result) = self.probe_result(&probe).await? else {
                    return Ok(());
                };
                let (deprecate_eof, status) = (self.deprecate_eof(), self.status());
                result
                    .write_as(&mut self.writer, deprecate_eof, status, true)
                    .await?;
                return Ok(());
            }
            Prepared::Metadata(metadata) => {
                let metadata = metadata.clone();
                let Some(result) = self.metadata_result(&metadata).await? else {
                    return Ok(());
                };
                let (deprecate_eof, status) = (self.deprecate_eof(), self.status());
                result
                    .write_as(&mut self.writer, deprecate_eof, status, true)
                    .await?;
                return Ok(());
            }
        };
        // Prepared before a migration's cutover (or rollback): analyze it again, once.
        let routing = self.ctx.migrations.router();
        let router = routing.as_ref().map_or(&self.rules.router, |r| &r.router);
        if !template.fits(router.topology()) {
            if let Ok(fresh) = router.prepare(template.text()) {
                template = Arc::new(fresh);
                stmt.prepared = Prepared::Routed(template.clone());
            }
        }
        if std::mem::take(&mut stmt.long_data_too_large) {
            stmt.long_data.clear();
            let message = format!(
                "Parameter of prepared statement which is set through mysql_send_long_data() is longer than 'max_allowed_packet' bytes ({})",
                self.rules.topology.proxy.max_allowed_packet
            );
            return self
                .send_error(codes::ER_NET_PACKET_TOO_LARGE, &message)
                .await;
        }
        let stmt_rows_exact_as_text = stmt.rows_exact_as_text;
        let parsed = parse_params(body, r.position(), stmt);
        let long_data = std::mem::take(&mut stmt.long_data);
        let Some((bound, values)) = parsed else {
            return self
                .send_error(
                    codes::ER_MALFORMED_PACKET,
                    "Malformed COM_STMT_EXECUTE parameters",
                )
                .await;
        };
        let plan = match self.bind_prepared(&template, &values).await {
            Ok(p) => p,
            Err(e) => return self.send_router_error(&e).await,
        };
        if self.migration_says(&plan) {
            return self.dual_write_prepared(&template, &values).await;
        }
        if stmt_rows_exact_as_text {
            if let Some(text_plan) = self.rebind_as_text(&plan, &template, &values) {
                self.state.generated_insert_id = None;
                return self
                    .execute_step(text_plan.step, |t| Job::Text(t.sql), true)
                    .await;
            }
        }
        self.execute_plan(plan, |t| {
            let (body, long_data) = execute_body(body, &bound, &t.params, &long_data);
            Job::Execute {
                sql: t.sql,
                body,
                long_data,
            }
        })
        .await
    }

    /// BEGIN, COMMIT, SET ... prepared: described as taking no parameters and returning no
    /// columns, and run as text on each execute.
    async fn prepare_session_statement(&mut self, sql: &str) -> Result<(), SessionError> {
        self.register_answered(Prepared::Session(sql.to_string()), &[])
            .await
    }

    /// A probe prepared: its columns described (VARCHARs named as the client wrote them),
    /// no parameters.
    async fn prepare_probe(&mut self, probe: Probe) -> Result<(), SessionError> {
        let labels: Vec<&str> = probe.items.iter().map(|(l, _)| l.as_str()).collect();
        let definitions = TextResult::new(&labels)
            .unsigned(super::metadata::numeric_probe_items(&probe))
            .column_definitions();
        self.register_answered(Prepared::Probe(probe), &definitions)
            .await
    }

    /// SHOW, DESCRIBE or an information_schema query prepared: answered once to describe
    /// its columns (a SHOW's columns depend on what it shows), no parameters.
    async fn prepare_metadata(&mut self, metadata: Metadata) -> Result<(), SessionError> {
        let Some(answer) = self.metadata_result(&metadata).await? else {
            return Ok(());
        };
        let definitions = answer.column_definitions();
        self.register_answered(Prepared::Metadata(metadata), &definitions)
            .await
    }

    /// Registers a statement without parameters that the session answers itself, and
    /// sends PREPARE_OK with `columns`.
    async fn register_answered(
        &mut self,
        prepared: Prepared,
        columns: &[Vec<u8>],
    ) -> Result<(), SessionError> {
        self.state.prepared.binary.next_id =
            self.state.prepared.binary.next_id.wrapping_add(1).max(1);
        let id = self.state.prepared.binary.next_id;
        let (status, deprecate_eof) = (self.status(), self.deprecate_eof());
        self.writer
            .prepare_ok(id, &[], columns, status, deprecate_eof)
            .await?;
        self.state.prepared.binary.map.insert(
            id,
            ClientStatement {
                prepared,
                params: 0,
                types: Vec::new(),
                long_data: HashMap::new(),
                long_data_too_large: false,
                rows_exact_as_text: false,
            },
        );
        Ok(())
    }

    /// A piece of a parameter's value, kept for the next execute up to max_allowed_packet.
    pub(crate) fn stmt_send_long_data(&mut self, id: u32, param: u16, piece: &[u8]) {
        let max = self.rules.topology.proxy.max_allowed_packet;
        let Some(stmt) = self.state.prepared.binary.map.get_mut(&id) else {
            return;
        };
        if param >= stmt.params {
            return;
        }
        let data = stmt.long_data.entry(param).or_default();
        if data.len() + piece.len() > max {
            // Kept no further: the execute is refused.
            data.clear();
            stmt.long_data_too_large = true;
        } else {
            data.extend_from_slice(piece);
        }
    }

    /// COM_STMT_CLOSE: the statement is forgotten (no answer).
    pub(crate) fn stmt_close(&mut self, id: Option<u32>) {
        if let Some(id) = id {
            self.state.prepared.binary.map.remove(&id);
        }
    }

    pub(crate) async fn stmt_reset(&mut self, id: Option<u32>) -> Result<(), SessionError> {
        match id.and_then(|id| self.state.prepared.binary.map.get_mut(&id)) {
            Some(stmt) => {
                stmt.long_data.clear();
                stmt.long_data_too_large = false;
                self.send_ok(Default::default()).await
            }
            None => {
                self.send_error(
                    codes::ER_UNKNOWN_STMT_HANDLER,
                    "Unknown prepared statement handler given to mysqld_stmt_reset",
                )
                .await
            }
        }
    }
}

/// Reads the null bitmap, types and values of an execute. Returns each parameter's place in
/// the packet and its value for routing.
fn parse_params(
    body: &[u8],
    at: usize,
    stmt: &mut ClientStatement,
) -> Option<(Vec<BoundParam>, Vec<ParamValue<'static>>)> {
    let n = usize::from(stmt.params);
    if n == 0 {
        return Some((Vec::new(), Vec::new()));
    }
    let mut r = Reader::new(body);
    r.take(at)?;
    let bitmap = r.take(n.div_ceil(8))?.to_vec();
    let new_params_bound = r.u8()?;
    if new_params_bound == 1 {
        let mut types = Vec::with_capacity(n);
        for _ in 0..n {
            let t = r.take(2)?;
            types.push([t[0], t[1]]);
        }
        stmt.types = types;
    }
    if stmt.types.len() != n {
        return None;
    }
    let mut bound = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        let ty = stmt.types[i];
        let null = bitmap[i / 8] & (1 << (i % 8)) != 0;
        if null {
            bound.push(BoundParam {
                null,
                ty,
                raw: 0..0,
                long: false,
            });
            values.push(ParamValue::Null);
            continue;
        }
        if let Some(data) = stmt.long_data.get(&(i as u16)) {
            bound.push(BoundParam {
                null,
                ty,
                raw: 0..0,
                long: true,
            });
            values.push(match std::str::from_utf8(data) {
                Ok(s) => ParamValue::Str(s.to_string().into()),
                Err(_) => ParamValue::Bytes(data.clone().into()),
            });
            continue;
        }
        let start = r.position();
        let value = read_value(&mut r, ty)?;
        bound.push(BoundParam {
            null,
            ty,
            raw: start..r.position(),
            long: false,
        });
        values.push(value);
    }
    Some((bound, values))
}

/// Reads one binary-protocol value of type `ty`.
fn read_value(r: &mut Reader<'_>, ty: [u8; 2]) -> Option<ParamValue<'static>> {
    let unsigned = ty[1] & 0x80 != 0;
    Some(match ty[0] {
        0x06 => ParamValue::Null,
        0x01 => {
            let b = r.u8()?;
            ParamValue::Int(if unsigned {
                i128::from(b)
            } else {
                i128::from(b as i8)
            })
        }
        0x02 | 0x0D => {
            let v = r.u16()?;
            ParamValue::Int(if unsigned {
                i128::from(v)
            } else {
                i128::from(v as i16)
            })
        }
        0x03 | 0x09 => {
            let v = r.u32()?;
            ParamValue::Int(if unsigned {
                i128::from(v)
            } else {
                i128::from(v as i32)
            })
        }
        0x08 => {
            let b = r.take(8)?;
            let v = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            ParamValue::Int(if unsigned {
                i128::from(v)
            } else {
                i128::from(v as i64)
            })
        }
        0x04 => {
            let b = r.take(4)?;
            ParamValue::Number(
                f32::from_le_bytes([b[0], b[1], b[2], b[3]])
                    .to_string()
                    .into(),
            )
        }
        0x05 => {
            let b = r.take(8)?;
            ParamValue::Number(
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                    .to_string()
                    .into(),
            )
        }
        0x07 | 0x0A | 0x0B | 0x0C => {
            let len = r.u8()?;
            ParamValue::Bytes(r.take(usize::from(len))?.to_vec().into())
        }
        0x00 | 0xF6 => {
            let text = r.lenenc_bytes()?;
            ParamValue::Number(String::from_utf8_lossy(text).into_owned().into())
        }
        _ => {
            let bytes = r.lenenc_bytes()?;
            match std::str::from_utf8(bytes) {
                Ok(s) => ParamValue::Str(s.to_string().into()),
                Err(_) => ParamValue::Bytes(bytes.to_vec().into()),
            }
        }
    })
}

/// The COM_STMT_EXECUTE body (after the statement id) for a physical statement taking the
/// client's parameters `indices`, in order, and the long data it must send first.
fn execute_body(
    client: &[u8],
    bound: &[BoundParam],
    indices: &[usize],
    long_data: &HashMap<u16, Vec<u8>>,
) -> (Vec<u8>, Vec<(u16, Vec<u8>)>) {
    let mut out = Vec::with_capacity(16 + client.len());
    out.push(0); // CURSOR_TYPE_NO_CURSOR
    out.extend_from_slice(&1u32.to_le_bytes());
    let mut pieces = Vec::new();
    if indices.is_empty() {
        return (out, pieces);
    }
    let mut bitmap = vec![0u8; indices.len().div_ceil(8)];
    for (j, &i) in indices.iter().enumerate() {
        if bound.get(i).is_none_or(|b| b.null) {
            bitmap[j / 8] |= 1 << (j % 8);
        }
    }
    out.extend_from_slice(&bitmap);
    out.push(1); // new params bound: the types follow
    for &i in indices {
        out.extend_from_slice(&bound.get(i).map_or([0x06, 0], |b| b.ty));
    }
    for (j, &i) in indices.iter().enumerate() {
        let Some(b) = bound.get(i) else { continue };
        if b.null {
            continue;
        }
        if b.long {
            if let Some(data) = long_data.get(&(i as u16)) {
                pieces.push((j as u16, data.clone()));
            }
            continue;
        }
        out.extend_from_slice(&client[b.raw.clone()]);
    }
    (out, pieces)
}

/// Why a statement without parameters is refused at execute whatever happens: it runs on
/// several physical tables and needs a merge the proxy does not compute.
fn merge_refusal(
    template: &shardgate_router::Template,
    topology: &shardgate_config::Topology,
) -> Option<String> {
    if template.param_count() != 0 {
        return None;
    }
    let plan = template
        .bind(topology, shardgate_router::Params::Prepared(&[]))
        .ok()?;
    plan.select_merge()
        .and_then(|spec| crate::engine::merge::support(spec).err())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A COM_STMT_EXECUTE's null bitmap, types and values, read from arbitrary bytes
        /// for any parameter count and long data: an answer or `None`, never a panic.
        #[test]
        fn execute_parameters_never_panic(
            body in prop::collection::vec(any::<u8>(), 0..200),
            params in 0u16..20,
            known_types in prop::option::of(prop::collection::vec(any::<[u8; 2]>(), 0..20)),
            long in prop::collection::vec((0u16..20, prop::collection::vec(any::<u8>(), 0..8)), 0..3),
        ) {
            let mut stmt = ClientStatement {
                prepared: Prepared::Session(String::new()),
                params,
                types: known_types.unwrap_or_default(),
                long_data: long.into_iter().collect(),
                long_data_too_large: false,
                rows_exact_as_text: false,
            };
            for at in [0, 9, body.len(), body.len() + 3] {
                let _ = parse_params(&body, at, &mut stmt);
            }
        }
    }
}
