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

    pub fn logical_table(&self, physical: &str) -> Option<&[u8]> {
        self.tables.get(physical.as_bytes()).map(Vec::as_slice)
    }
}
