package redisnet

// NumSlots is the number of hash slots of a Redis Cluster.
const NumSlots = 16384

// KeySlot is the hash slot of a key or a shard channel, as Redis Cluster
// computes it: CRC16 (XMODEM) of the key, or of its hash tag (the part
// between the first '{' and the next '}', when not empty), modulo 16384.
func KeySlot(key string) int {
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					key = key[i+1 : j]
				}
				return int(crc16(key)) % NumSlots
			}
		}
		break
	}
	return int(crc16(key)) % NumSlots
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial 0), Redis Cluster's,
// a byte at a time from a table.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^s[i]]
	}
	return crc
}

var crcTable = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
