//! The GATT service and characteristic UUIDs.

/// A 128-bit Bluetooth UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uuid(u128);

impl Uuid {
    /// The UUID with this 128-bit value.
    pub const fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// Its 128-bit value.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// Its bytes in the order they travel in ATT PDUs and advertising data (little endian).
    pub const fn to_le_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }
}

impl core::fmt::Display for Uuid {
    /// The usual hyphenated lowercase form.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            v >> 96,
            (v >> 80) & 0xFFFF,
            (v >> 64) & 0xFFFF,
            (v >> 48) & 0xFFFF,
            v & 0xFFFF_FFFF_FFFF
        )
    }
}

/// The wearpay payment service: `dc37a60b-1edf-4b8b-93fa-6ce4ece79125`, a random (version 4)
/// UUID drawn for this service, so that it collides with no assigned or vendor UUID.
pub const SERVICE_UUID: Uuid = Uuid(0xdc37a60b_1edf_4b8b_93fa_6ce4ece79125);

/// Central → band (Write Without Response): `dc37a6f1-1edf-4b8b-93fa-6ce4ece79125`. The
/// characteristics differ from the service only in the low byte of the first group, so a
/// sniffer trace shows at a glance that they belong together.
pub const WRITE_CHARACTERISTIC_UUID: Uuid = Uuid(0xdc37a6f1_1edf_4b8b_93fa_6ce4ece79125);

/// Band → central (notifications): `dc37a6f2-1edf-4b8b-93fa-6ce4ece79125`.
pub const NOTIFY_CHARACTERISTIC_UUID: Uuid = Uuid(0xdc37a6f2_1edf_4b8b_93fa_6ce4ece79125);

/// The band's control point length (read, 2 bytes big endian, 20..=512):
/// `dc37a6f3-1edf-4b8b-93fa-6ce4ece79125`.
pub const CONTROL_POINT_LENGTH_CHARACTERISTIC_UUID: Uuid = Uuid(0xdc37a6f3_1edf_4b8b_93fa_6ce4ece79125);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn display_and_version() {
        assert_eq!(SERVICE_UUID.to_string(), "dc37a60b-1edf-4b8b-93fa-6ce4ece79125");
        assert_eq!(NOTIFY_CHARACTERISTIC_UUID.to_string(), "dc37a6f2-1edf-4b8b-93fa-6ce4ece79125");
        for u in [
            SERVICE_UUID,
            WRITE_CHARACTERISTIC_UUID,
            NOTIFY_CHARACTERISTIC_UUID,
            CONTROL_POINT_LENGTH_CHARACTERISTIC_UUID,
        ] {
            // Version 4, RFC 4122 variant.
            assert_eq!((u.as_u128() >> 76) & 0xF, 4);
            assert_eq!((u.as_u128() >> 62) & 0b11, 0b10);
        }
        assert_eq!(SERVICE_UUID.to_le_bytes()[0], 0x25);
        assert_eq!(SERVICE_UUID.to_le_bytes()[15], 0xdc);
    }
}
