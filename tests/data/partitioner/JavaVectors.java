// Murmur2 partition vectors from the Java client, for tests/unit/test_partitioner.c.
//
//   java -cp "$(tests/broker/kafka fetch)"/'*' tests/data/partitioner/JavaVectors.java
//
// (Java 17 single-file launch, kafka-clients 4.4.0.) Prints one C initializer row per key:
// the key bytes, their length, Utils.murmur2(key) as an unsigned 32-bit value, and
// Utils.toPositive(Utils.murmur2(key)) % n for each n in N, which is what the Java
// producer's BuiltInPartitioner.partitionForKey returns for a keyed record.
// KEYS must stay identical to the list in rdkafka_vectors.c.
import org.apache.kafka.common.utils.Utils;

public class JavaVectors {
    static final String[] KEYS = { // hex
        "",
        "61", "6162", "616263", "61626364", "6162636465", "616263646566", // a .. abcdef
        "61626364656667", "6162636465666768", "616263646566676869",     // abcdefg .. abcdefghi
        "6162636465666768696a", "6162636465666768696a6b",               // abcdefghij, abcdefghijk
        "6162636465666768696a6b6c", "6162636465666768696a6b6c6d",       // abcdefghijkl, ..m
        "6b61666b61",                                                   // kafka
        "616d7170",                                                     // amqp
        "6769626572697368313233343536373839",                           // giberish123456789
        "6f726465722d3432",                                             // order-42
        "4f7264657243726561746564",                                     // OrderCreated
        "54686520717569636b2062726f776e20666f78206a756d7073206f76657220746865206c617a7920646f67",
        "c3bc",                                                         // ü (UTF-8)
        "e697a5e69cac",                                                 // 日本
        "68c3a96c6c6f2077c3b6726c64",                                   // héllo wörld
        "f09f9880",                                                     // 😀
        "e282ac75726f",                                                 // €uro
        "ff", "8081", "feff00", "80000000", "ffffffffff", "00", "00000000000000",
        "deadbeefcafebabe80", "808182838485868788898a8b8c", "f0f1f2f3f4f5f6f7f8f9fafb",
        "000102030405060708090a",
        // Edge keys, found by inverting the hashes: murmur2 = 0x80000000 (toPositive gives 0),
        // 0xffffffff, 0; FNV-1a state 0x80000000 before librdkafka's abs() (-INT_MIN).
        "a7d6506c", "a5d4305c", "e3871844", "0e9c450115",
    };
    static final int[] N = {1, 3, 6, 7, 100, Integer.MAX_VALUE};

    public static void main(String[] args) {
        for (String hex : KEYS) {
            byte[] k = new byte[hex.length() / 2];
            for (int i = 0; i < k.length; i++)
                k[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
            StringBuilder sb = new StringBuilder("  {\"");
            for (byte b : k) sb.append(String.format("\\x%02x", b & 0xff));
            int h = Utils.murmur2(k);
            sb.append(String.format("\", %d, 0x%08xu, {", k.length, h));
            for (int i = 0; i < N.length; i++)
                sb.append(i > 0 ? ", " : "").append(Utils.toPositive(h) % N[i]);
            System.out.println(sb.append("}},"));
        }
    }
}
