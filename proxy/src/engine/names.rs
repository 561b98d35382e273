//! Physical -> logical names in column definitions, so ORMs reading `schema` and `table`
//! metadata see `shop.t_order`, not `order_db_18.t_order_4`.

use std::collections::HashMap;

use shardgate_config::{TableKind, Topology};

use crate::protocol::wire::{put_lenenc_bytes, Reader};

pub struct NameMap {
    schema: Vec<u8>,
    databases: HashMap<Vec<u8>, ()>,
    tables: HashMap<Vec<u8>, Vec<u8>>,
}

impl NameMap {
    pub fn new(topology: &Topology) -> Self {
        let databases = topology
            .databases
            .iter()
            .map(|d| (d.name.as_bytes().to_vec(), ()))
            .collect();
        let mut tables = HashMap::new();
        for t in &topology.tables {
            if let TableKind::Sharded(layout) = &t.kind {
                for physical in &layout.tables {
                    tables.insert(physical.as_bytes().to_vec(), t.name.as_bytes().to_vec());
                }
            }
        }
        NameMap {
            schema: topology.schema.as_bytes().to_vec(),
            databases,
            tables,
        }
    }

    /// Rewrites a column-definition payload in place when it names physical objects.
    /// Returns false when the payload is not a well-formed column definition (it is then
    /// relayed as it is).
    pub fn rewrite_column(&self, payload: &mut Vec<u8>) -> bool {
        let mut r = Reader::new(payload);
        let (Some(catalog), Some(schema), Some(table), Some(org_table)) = (
            r.lenenc_bytes(),
            r.lenenc_bytes(),
            r.lenenc_bytes(),
            r.lenenc_bytes(),
        ) else {
            return false;
        };
        let rest_at = r.position();
        let schema_hit = self.databases.contains_key(schema);
        let table_new = self.tables.get(table);
        let org_new = self.tables.get(org_table);
        if !schema_hit && table_new.is_none() && org_new.is_none() {
            return true;
        }
        let mut out = Vec::with_capacity(payload.len());
        put_lenenc_bytes(&mut out, catalog);
        put_lenenc_bytes(&mut out, if schema_hit { &self.schema } else { schema });
        put_lenenc_bytes(&mut out, table_new.map_or(table, Vec::as_slice));
        put_lenenc_bytes(&mut out, org_new.map_or(org_table, Vec::as_slice));
        out.extend_from_slice(&payload[rest_at..]);
        *payload = out;
        true
    }

    /// A server message with physical database and table names replaced by logical ones
    /// (`Unknown column 'x' in 'order_db_3.t_order_5'` reads `'shop.t_order'`).
    pub fn logical_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            let bytes = word.as_bytes();
            if self.databases.contains_key(bytes) {
                out.push_str(&String::from_utf8_lossy(&self.schema));
            } else if let Some(logical) = self.tables.get(bytes) {
                out.push_str(&String::from_utf8_lossy(logical));
            } else {
                out.push_str(word);
            }
            word.clear();
        };
        for c in text.chars() {
            if c.is_alphanumeric() || c == '_' || c == '$' {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }

    pub fn logical_table(&self, physical: &str) -> Option<&[u8]> {
        self.tables.get(physical.as_bytes()).map(Vec::as_slice)
    }
}
