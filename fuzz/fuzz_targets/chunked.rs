//! HTTP/1.1 chunked bodies: the first byte picks where the rest of the input is split into two
//! reads; `Chunked::decode` runs after each, as the streaming clients call it.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pushbench_loadgen::parsers::Chunked;

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let split = usize::from(split) % (body.len() + 1);
    let mut state = Chunked::default();
    let mut src = BytesMut::new();
    let mut dst = BytesMut::new();
    for piece in [&body[..split], &body[split..]] {
        src.extend_from_slice(piece);
        if state.decode(&mut src, &mut dst).is_err() {
            break;
        }
        assert!(src.len() <= body.len());
    }
    assert!(dst.len() <= body.len(), "more data out than bytes in");
});
