//! Every decoder that reads client or backend bytes, fed arbitrary bytes: none may panic
//! (a panic ends the client's session; in the wrong place, the proxy). cargo-fuzz needs a
//! nightly toolchain, so this is proptest: `SG_FUZZ_CASES` cases each (2,000 by default;
//! `bench/fuzz.sh` runs many more).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use shardgate_proxy::protocol::binary_row::{column_info, decode_binary_row, encode_binary_row};
use shardgate_proxy::protocol::command::ClientCommand;
use shardgate_proxy::protocol::wire::{parse_err, parse_ok, Reader};

fn runner() -> TestRunner {
    let cases = std::env::var("SG_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2000);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

#[test]
fn client_commands() {
    runner()
        .run(&bytes(300), |packet| {
            let _ = ClientCommand::decode(&packet);
            Ok(())
        })
        .unwrap();
    // Each command byte with an arbitrary body.
    runner()
        .run(&(0u8..0x20, bytes(64)), |(command, body)| {
            let mut packet = vec![command];
            packet.extend_from_slice(&body);
            let _ = ClientCommand::decode(&packet);
            Ok(())
        })
        .unwrap();
}

#[test]
fn ok_err_and_column_definitions() {
    runner()
        .run(&bytes(200), |payload| {
            let _ = parse_ok(&payload);
            let _ = parse_err(&payload);
            let _ = column_info(&payload);
            let mut r = Reader::new(&payload);
            while r.lenenc_bytes().is_some() {}
            Ok(())
        })
        .unwrap();
}

/// Column types a row can hold, with flags and decimals.
fn column_types() -> impl Strategy<Value = Vec<(u8, u16, u8)>> {
    let ty = prop::sample::select(vec![
        0x00u8, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E,
        0x0F, 0x10, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF,
    ]);
    prop::collection::vec((ty, any::<u16>(), any::<u8>()), 0..12)
}

#[test]
fn binary_rows() {
    runner()
        .run(&(bytes(300), column_types()), |(packet, types)| {
            let _ = decode_binary_row(&packet, &types);
            Ok(())
        })
        .unwrap();
    // Encoding arbitrary text as any type, then decoding it, never panics either.
    let values = prop::collection::vec(prop::option::of(bytes(40)), 0..12);
    runner()
        .run(&(values, column_types()), |(values, types)| {
            let n = values.len().min(types.len());
            let row = encode_binary_row(&values[..n], &types[..n]);
            let _ = decode_binary_row(&row, &types[..n]);
            Ok(())
        })
        .unwrap();
}
