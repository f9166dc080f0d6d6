//! CPU cost of the framing: fragmenting a message and reassembling it, at the smallest
//! ATT_MTU (23: 20-byte fragments) and the common BLE 5 one (247: 244-byte fragments).
#![allow(clippy::unwrap_used)]

use core::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wearpay_link::{Command, Instant, Reassembler, fragment, max_fragment_len};

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("fragment_reassemble");
    for size in [1024usize, 16 * 1024] {
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        for att_mtu in [23u16, 247] {
            let max = max_fragment_len(att_mtu, 512).unwrap();
            group.throughput(Throughput::Bytes(size as u64));
            let id = BenchmarkId::new(format!("mtu{att_mtu}"), format!("{}KiB", size / 1024));
            group.bench_with_input(id, &data, |b, data| {
                let mut rx = Reassembler::new(max).unwrap();
                // A reused buffer per fragment, as a GATT stack would hand one value at a time.
                let mut value = Vec::with_capacity(max);
                b.iter(|| {
                    let mut done = None;
                    for f in fragment(Command::Msg, black_box(data), max).unwrap() {
                        value.clear();
                        f.write_to(&mut value);
                        done = rx.push(&value, Instant::from_millis(0)).unwrap();
                    }
                    let message = done.unwrap();
                    assert_eq!(message.data.len(), data.len());
                    message
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
