//! A model of the BLE air: what carrying fragments costs in bytes and time.
//!
//! Each fragment is one ATT PDU (Write Without Response or Handle Value Notification:
//! opcode 1 + handle 2 + value) in one L2CAP basic frame (length 2 + channel 2), cut into
//! link-layer data PDUs of at most [`AirProfile::ll_max_payload`] bytes. Each LL PDU goes
//! on air as
//!
//! ```text
//! preamble (1 B on LE 1M, 2 B on LE 2M) ‖ access address 4 ‖ LL header 2 ‖ payload ‖ MIC 4 (encrypted link) ‖ CRC 3
//! ```
//!
//! and the peer answers each with an empty PDU (no MIC, no payload) after the 150 µs
//! inter-frame space; the next PDU follows 150 µs later. A connection event carries at most
//! [`AirProfile::packets_per_event`] PDUs in our direction (and no more than fit in the
//! connection interval); then the link waits for the next event.
//!
//! The *airtime* of a transfer is the time from the first PDU of the first event to the end
//! of the last PDU: whole connection intervals for every event but the last, plus the
//! exchanges in the last. It assumes the transfer starts at an event anchor, no packet is
//! lost or retransmitted, and traffic in the other direction does not share the events.
//! Uncoded PHYs only (LE 1M, LE 2M).

use core::time::Duration;

use crate::frame::{ATT_HEADER_LEN, ATT_MTU_MAX, ATT_MTU_MIN};

/// Bytes of the L2CAP basic header (length, channel ID).
pub const L2CAP_HEADER_LEN: usize = 4;
/// Bytes of an LL data PDU on air besides its payload and MIC: access address 4, header
/// 2, CRC 3 (the preamble depends on the PHY).
pub const LL_FIXED_OVERHEAD: usize = 4 + 2 + 3;
/// Bytes of the message integrity check on an encrypted link.
pub const LL_MIC_LEN: usize = 4;
/// The inter-frame space, in microseconds.
pub const T_IFS_US: u64 = 150;
/// The LL payload without data length extension.
pub const LL_PAYLOAD_DEFAULT: u16 = 27;
/// The LL payload with data length extension (Bluetooth 4.2 and later).
pub const LL_PAYLOAD_DLE: u16 = 251;

/// The parameters of one direction of a BLE connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AirProfile {
    /// The ATT_MTU (23..=517); the simulated link replaces it with the negotiated one.
    pub att_mtu: u16,
    /// The largest LL data PDU payload (27 without, up to 251 with data length extension).
    pub ll_max_payload: u16,
    /// The connection interval in microseconds (7.5 ms to 4 s in the spec).
    pub conn_interval_us: u32,
    /// The most PDUs in our direction per connection event (a limit of the phone's stack).
    pub packets_per_event: u16,
    /// The PHY bit rate: 1 000 000 (LE 1M) or 2 000 000 (LE 2M).
    pub phy_bitrate_bps: u32,
    /// Whether the link is encrypted (bonded), adding a 4-byte MIC to each non-empty PDU.
    pub encrypted: bool,
}

impl AirProfile {
    /// A Bluetooth 4.2 link without the extensions: LE 1M PHY, ATT_MTU 23, 27-byte LL
    /// payloads, a 30 ms connection interval, 4 PDUs per event, encrypted.
    pub const fn ble42() -> Self {
        Self {
            att_mtu: 23,
            ll_max_payload: LL_PAYLOAD_DEFAULT,
            conn_interval_us: 30_000,
            packets_per_event: 4,
            phy_bitrate_bps: 1_000_000,
            encrypted: true,
        }
    }

    /// A Bluetooth 5 link on LE 1M with data length extension: ATT_MTU 247 (a 244-byte
    /// value fills one 251-byte LL payload), a 30 ms connection interval, 6 PDUs per
    /// event, encrypted.
    pub const fn ble5_1m() -> Self {
        Self {
            att_mtu: 247,
            ll_max_payload: LL_PAYLOAD_DLE,
            conn_interval_us: 30_000,
            packets_per_event: 6,
            phy_bitrate_bps: 1_000_000,
            encrypted: true,
        }
    }

    /// The same profile with another ATT_MTU (clamped to 23..=517).
    #[must_use]
    pub fn with_att_mtu(mut self, att_mtu: u16) -> Self {
        self.att_mtu = att_mtu.clamp(ATT_MTU_MIN, ATT_MTU_MAX);
        self
    }

    fn ll_payload(&self) -> usize {
        // Out-of-spec values are clamped so that the model never divides by zero.
        usize::from(self.ll_max_payload.clamp(LL_PAYLOAD_DEFAULT, LL_PAYLOAD_DLE))
    }

    fn preamble_len(&self) -> usize {
        if self.phy_bitrate_bps >= 2_000_000 { 2 } else { 1 }
    }

    /// Nanoseconds on air for `bytes` bytes.
    fn air_ns(&self, bytes: usize) -> u64 {
        (bytes as u64).saturating_mul(8_000_000_000) / u64::from(self.phy_bitrate_bps.max(1))
    }

    /// The LL payload sizes of the PDUs that carry one fragment of `fragment_len` bytes.
    fn ll_payloads(&self, fragment_len: usize) -> impl Iterator<Item = usize> {
        let max = self.ll_payload();
        let mut left = L2CAP_HEADER_LEN + ATT_HEADER_LEN + fragment_len;
        core::iter::from_fn(move || {
            (left > 0).then(|| {
                let take = left.min(max);
                left -= take;
                take
            })
        })
    }

    fn pdu_len(&self, payload: usize) -> usize {
        self.preamble_len() + LL_FIXED_OVERHEAD + payload + if self.encrypted { LL_MIC_LEN } else { 0 }
    }

    /// The LL data PDUs that carry one fragment of `fragment_len` bytes.
    pub fn ll_packets(&self, fragment_len: usize) -> u64 {
        self.ll_payloads(fragment_len).count() as u64
    }

    /// The bytes on air, preamble to CRC, of the PDUs carrying one fragment of
    /// `fragment_len` bytes (the peer's empty acknowledgements not counted).
    pub fn bytes_over_air(&self, fragment_len: usize) -> u64 {
        self.ll_payloads(fragment_len).map(|p| self.pdu_len(p) as u64).sum()
    }

    /// The airtime of a sequence of fragments sent in one direction (see the module docs).
    pub fn airtime(&self, fragment_lens: &[usize]) -> Duration {
        let ack_ns = self.air_ns(self.preamble_len() + LL_FIXED_OVERHEAD);
        let ifs_ns = T_IFS_US * 1000;
        let interval_ns = u64::from(self.conn_interval_us) * 1000;
        // How many of the largest PDUs fit an event bounds the PDUs per event too.
        let full_cycle_ns = self.air_ns(self.pdu_len(self.ll_payload())) + 2 * ifs_ns + ack_ns;
        let fit = usize::try_from(interval_ns / full_cycle_ns.max(1)).unwrap_or(usize::MAX).max(1);
        let per_event = usize::from(self.packets_per_event.max(1)).min(fit);

        let mut total_ns: u64 = 0;
        let mut in_event = 0usize;
        let mut event_ns: u64 = 0;
        for &len in fragment_lens {
            for payload in self.ll_payloads(len) {
                if in_event == per_event {
                    total_ns = total_ns.saturating_add(interval_ns);
                    in_event = 0;
                    event_ns = 0;
                }
                if in_event > 0 {
                    event_ns += ifs_ns;
                }
                event_ns += self.air_ns(self.pdu_len(payload)) + ifs_ns + ack_ns;
                in_event += 1;
            }
        }
        Duration::from_nanos(total_ns.saturating_add(event_ns))
    }
}

impl Default for AirProfile {
    fn default() -> Self {
        Self::ble42()
    }
}

/// What went over the air in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AirStats {
    /// Complete messages.
    pub messages: u64,
    /// Fragments (GATT writes or notifications).
    pub fragments: u64,
    /// Fragment bytes: headers and message data, the GATT values.
    pub fragment_bytes: u64,
    /// LL data PDUs.
    pub ll_packets: u64,
    /// Bytes on air of those PDUs, preamble to CRC, with the L2CAP and ATT headers and the
    /// MIC (not the peer's empty acknowledgements).
    pub bytes_over_air: u64,
    /// Airtime, summed per message (see [`AirProfile::airtime`]).
    pub airtime: Duration,
}

impl AirStats {
    /// Adds the fragments of one complete message.
    pub fn record_message(&mut self, profile: &AirProfile, fragment_lens: &[usize]) {
        self.messages += 1;
        self.record_fragments(profile, fragment_lens);
    }

    /// Adds fragments that did not make a complete message (one cut short or refused).
    pub fn record_fragments(&mut self, profile: &AirProfile, fragment_lens: &[usize]) {
        for &len in fragment_lens {
            self.fragments += 1;
            self.fragment_bytes += len as u64;
            self.ll_packets += profile.ll_packets(len);
            self.bytes_over_air += profile.bytes_over_air(len);
        }
        self.airtime = self.airtime.saturating_add(profile.airtime(fragment_lens));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_full_fragment_per_pdu() {
        let p = AirProfile::ble42();
        // 20-byte value + ATT 3 + L2CAP 4 = 27: one PDU of 1+4+2+27+4+3 = 41 bytes.
        assert_eq!(p.ll_packets(20), 1);
        assert_eq!(p.bytes_over_air(20), 41);
        let p5 = AirProfile::ble5_1m();
        assert_eq!(p5.ll_packets(244), 1);
        assert_eq!(p5.bytes_over_air(244), 1 + 4 + 2 + 251 + 4 + 3);
        // A 244-byte value without DLE needs ceil(251 / 27) = 10 PDUs.
        assert_eq!(p.ll_packets(244), 10);
    }

    #[test]
    fn single_pdu_airtime() {
        // 41 bytes at 1 Mb/s = 328 µs, T_IFS, 10-byte empty PDU = 80 µs.
        let p = AirProfile::ble42();
        assert_eq!(p.airtime(&[20]), Duration::from_micros(328 + 150 + 80));
        // Two in one event: plus T_IFS between the exchanges.
        assert_eq!(p.airtime(&[20, 20]), Duration::from_micros(2 * 558 + 150));
        // Five: four in the first event, the fifth one interval later.
        assert_eq!(p.airtime(&[20; 5]), Duration::from_micros(30_000 + 558));
        assert_eq!(p.airtime(&[]), Duration::ZERO);
    }

    #[test]
    fn le_2m_is_faster_per_pdu() {
        let p = AirProfile { phy_bitrate_bps: 2_000_000, ..AirProfile::ble42() };
        // 42 bytes (2-byte preamble) at 2 Mb/s = 168 µs; 11-byte empty PDU = 44 µs.
        assert_eq!(p.airtime(&[20]), Duration::from_micros(168 + 150 + 44));
    }

    #[test]
    fn events_are_bounded_by_the_interval() {
        // 251-byte payloads at 1M: 265 bytes = 2120 µs, cycle 2120+150+80+150 = 2500 µs; a
        // 7.5 ms interval fits 3 even though 6 are allowed.
        let p = AirProfile { conn_interval_us: 7_500, ..AirProfile::ble5_1m() };
        assert_eq!(p.airtime(&[244; 4]), Duration::from_micros(7_500 + 2_350));
    }

    #[test]
    fn nonsense_profiles_do_not_panic() {
        let p = AirProfile {
            att_mtu: 0,
            ll_max_payload: 0,
            conn_interval_us: 0,
            packets_per_event: 0,
            phy_bitrate_bps: 0,
            encrypted: false,
        };
        let _ = p.airtime(&[0, 512, 65535]);
        let mut s = AirStats::default();
        s.record_message(&p, &[512; 3]);
        assert_eq!(s.fragments, 3);
    }
}
