use super::*;

#[test]
fn varint_round_trip_and_limits() {
    for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        let mut r = Reader::new(&out);
        assert_eq!(r.varint().unwrap(), v);
        assert_eq!(r.field().unwrap(), None);
    }
    // 11-byte varint.
    let long = [0x80u8; 10];
    assert_eq!(Reader::new(&long).varint(), Err(DecodeError::Malformed));
    // 10th byte > 1 overflows u64.
    let mut over = [0xffu8; 10];
    over[9] = 0x02;
    assert_eq!(Reader::new(&over).varint(), Err(DecodeError::Malformed));
    assert_eq!(Reader::new(&[0x80]).varint(), Err(DecodeError::Truncated));
}

#[test]
fn fields() {
    let mut out = Vec::new();
    put_uint(&mut out, 2, 7);
    put_bytes(&mut out, 4, b"abc");
    let mut r = Reader::new(&out);
    assert_eq!(r.field().unwrap(), Some((2, Value::Varint(7))));
    assert_eq!(r.field().unwrap(), Some((4, Value::Bytes(b"abc"))));
    assert_eq!(r.field().unwrap(), None);
    // Length past the end.
    let bad = [0x22, 0x05, 1, 2];
    assert_eq!(Reader::new(&bad).field(), Err(DecodeError::Truncated));
    // Group wire type.
    assert_eq!(Reader::new(&[0x13]).field(), Err(DecodeError::Malformed));
    // Field number 0.
    assert_eq!(
        Reader::new(&[0x00, 0x01]).field(),
        Err(DecodeError::Malformed)
    );
}
