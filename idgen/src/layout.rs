//! The bit layout of a snowflake id: time since an epoch, then the worker, then the
//! sequence, in a positive 64-bit integer.

use crate::IdError;

/// 2024-01-01T00:00:00Z: 41 bits of milliseconds from here last until 2093.
pub const DEFAULT_EPOCH_MS: u64 = 1_704_067_200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Milliseconds since 1970 at which time 0 starts.
    pub epoch_ms: u64,
    pub time_bits: u32,
    pub worker_bits: u32,
    pub sequence_bits: u32,
}

impl Default for Layout {
    /// 41 bits of time, 10 of worker, 12 of sequence.
    fn default() -> Self {
        Layout {
            epoch_ms: DEFAULT_EPOCH_MS,
            time_bits: 41,
            worker_bits: 10,
            sequence_bits: 12,
        }
    }
}

/// An id taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Milliseconds since 1970 the id was issued at.
    pub unix_ms: u64,
    pub worker: u64,
    pub sequence: u64,
}

impl Layout {
    pub fn new(
        epoch_ms: u64,
        time_bits: u32,
        worker_bits: u32,
        sequence_bits: u32,
    ) -> Result<Layout, IdError> {
        let total = time_bits + worker_bits + sequence_bits;
        if total > 63 {
            return Err(IdError::Layout(format!(
                "time_bits + worker_bits + sequence_bits is {total}; at most 63 fit a positive BIGINT"
            )));
        }
        if time_bits < 30 {
            return Err(IdError::Layout(format!(
                "time_bits is {time_bits}; fewer than 30 bits of milliseconds last under two weeks"
            )));
        }
        if sequence_bits < 10 {
            return Err(IdError::Layout(format!(
                "sequence_bits is {sequence_bits}; at least 10 are needed to spread ids over 32 x 32 tables"
            )));
        }
        Ok(Layout {
            epoch_ms,
            time_bits,
            worker_bits,
            sequence_bits,
        })
    }

    pub fn max_worker(&self) -> u64 {
        (1u64 << self.worker_bits) - 1
    }

    pub fn max_sequence(&self) -> u64 {
        (1u64 << self.sequence_bits) - 1
    }

    pub fn max_time(&self) -> u64 {
        (1u64 << self.time_bits) - 1
    }

    /// The id of `time` (milliseconds since the epoch), `worker` and `sequence`, each
    /// already within its bits.
    pub fn compose(&self, time: u64, worker: u64, sequence: u64) -> i64 {
        ((time << (self.worker_bits + self.sequence_bits))
            | (worker << self.sequence_bits)
            | sequence) as i64
    }

    pub fn decode(&self, id: i64) -> Decoded {
        let id = id as u64;
        Decoded {
            unix_ms: (id >> (self.worker_bits + self.sequence_bits)) + self.epoch_ms,
            worker: (id >> self.sequence_bits) & self.max_worker(),
            sequence: id & self.max_sequence(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_and_decode_round_trip() {
        let layout = Layout::default();
        let id = layout.compose(123_456, 1023, 4095);
        assert!(id > 0);
        assert_eq!(
            layout.decode(id),
            Decoded {
                unix_ms: DEFAULT_EPOCH_MS + 123_456,
                worker: 1023,
                sequence: 4095
            }
        );
        let max = layout.compose(
            layout.max_time(),
            layout.max_worker(),
            layout.max_sequence(),
        );
        assert_eq!(max, i64::MAX);
        assert!(Layout::new(0, 42, 10, 12).is_err());
        assert!(Layout::new(0, 41, 14, 8).is_err());
        assert!(Layout::new(0, 41, 5, 12).is_ok());
    }
}
