//! The engine: running a plan's physical statements on backend connections and answering the
//! client. One target relays the backend's result as it comes; several targets of a write run
//! in parallel and answer with one OK.

pub mod fanout;
pub mod merge;
pub mod names;
pub mod relay;
pub mod result;
pub mod scatter;
pub mod warnings;
