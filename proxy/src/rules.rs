//! The rules a config file decides, held together so that a reload swaps them at once:
//! the topology, the router over it, one pool per backend, and the physical-to-logical
//! name map. A session takes the newest at each statement outside a transaction; a
//! transaction finishes on the rules it began with (its connections come from their pools).

use std::sync::Arc;

use shardgate_config::Topology;
use shardgate_router::Router;

use crate::backend::Pool;
use crate::engine::names::NameMap;

pub struct Rules {
    pub topology: Arc<Topology>,
    pub router: Router,
    /// One pool per backend, indexed like `topology.backends`.
    pub pools: Vec<Arc<Pool>>,
    pub names: NameMap,
}

impl Rules {
    /// The rules of `topology`. A backend `previous` already has, with the same settings,
    /// keeps its pool (and its open connections); any other gets a new one, and a pool no
    /// rules use any more closes its connections once the last statement using it ends.
    pub fn new(topology: Arc<Topology>, previous: Option<&Rules>) -> Rules {
        let pools = topology
            .backends
            .iter()
            .map(|backend| {
                previous
                    .and_then(|p| p.pools.iter().find(|pool| pool.backend == *backend))
                    .cloned()
                    .unwrap_or_else(|| Pool::new(backend.clone()))
            })
            .collect();
        Rules {
            router: Router::new(topology.clone()),
            names: NameMap::new(&topology),
            pools,
            topology,
        }
    }

    /// Drains the pools of `previous` these rules do not keep (see [`Pool::retire`]).
    pub fn retire_pools_of(&self, previous: &Rules) {
        for pool in &previous.pools {
            if !self.pools.iter().any(|p| Arc::ptr_eq(p, pool)) {
                pool.retire();
            }
        }
    }

    /// How many pools of `previous` these rules keep.
    pub fn pools_kept_from(&self, previous: &Rules) -> usize {
        self.pools
            .iter()
            .filter(|p| previous.pools.iter().any(|q| Arc::ptr_eq(p, q)))
            .count()
    }
}
