//! DDL on a logical table runs on every physical table it stands for.

use shardgate_config::Topology;
use sqlparser::ast::{AlterTableOperation, ObjectName, ObjectType, Spanned, Statement};

use super::{first_word, Analysis};
use crate::collect::name_parts;
use crate::error::{Result, RouterError};
use crate::plan::StatementKind;
use crate::source::SourceText;
use crate::template::{
    topology_id, Edit, EditKind, MergeTemplate, RouteTemplate, TableRef, Template,
};

pub(super) fn analyze(
    stmt: &Statement,
    src: SourceText<'_>,
    topology: &Topology,
) -> Result<Template> {
    let text = src.text();
    let one = |names: Vec<&ObjectName>| -> Result<ObjectName> {
        match names.as_slice() {
            [name] => Ok((*name).clone()),
            _ => Err(RouterError::Unsafe(format!(
                "{} names {} tables; name one logical table per DDL statement",
                first_word(text),
                names.len()
            ))),
        }
    };
    let name = match stmt {
        Statement::CreateTable(ct) => {
            if ct.query.is_some() || ct.like.is_some() || ct.clone.is_some() {
                return Err(RouterError::Unsafe(
                    "CREATE TABLE ... SELECT / LIKE is not supported on logical tables; give the columns".into(),
                ));
            }
            ct.name.clone()
        }
        Statement::AlterTable(at) => {
            if at
                .operations
                .iter()
                .any(|op| matches!(op, AlterTableOperation::RenameTable { .. }))
            {
                return Err(RouterError::Unsafe(
                    "renaming a logical table needs a config change, not ALTER TABLE ... RENAME"
                        .into(),
                ));
            }
            at.name.clone()
        }
        Statement::Drop {
            object_type: ObjectType::Table,
            names,
            ..
        } => one(names.iter().collect())?,
        Statement::Drop {
            object_type: ObjectType::Index,
            table: Some(table),
            ..
        } => table.clone(),
        Statement::Truncate(t) => one(t.table_names.iter().map(|t| &t.name).collect())?,
        Statement::CreateIndex(ci) => ci.table_name.clone(),
        _ => return Err(RouterError::NotRoutable(first_word(text))),
    };
    let range = src.range(name.span()).ok_or_else(|| {
        RouterError::Unsafe("cannot locate the table name in the statement text".into())
    })?;
    let a = Analysis {
        topology,
        src,
        collected: Default::default(),
        refs: Vec::new(),
        edits: Vec::new(),
        system_tables: 0,
        literal_sensitive: false,
        derived_key: None,
    };
    let table = a
        .resolve(&name_parts(&name))?
        .ok_or_else(|| RouterError::NotRoutable(first_word(text)))?;
    Ok(Template {
        kind: StatementKind::Ddl,
        text: text.to_string(),
        edits: vec![Edit {
            range,
            kind: EditKind::Table(0),
        }],
        param_count: 0,
        refs: vec![TableRef { table }],
        route: RouteTemplate::Ddl { table },
        merge: MergeTemplate::default(),
        literal_sensitive: false,
        write_limit: false,
        returning: false,
        window: None,
        in_subquery: None,
        union: None,
        cross_join: None,
        window_functions: None,
        analyzed_for: topology_id(topology),
    })
}
