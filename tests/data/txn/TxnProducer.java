// Writes a fixed mix of plain, committed and aborted transactional records into
// partition 0 of a topic, for tests/integration/it_read_committed.c. Java 17 single-file
// program, run with the broker's own jars:
//
//   java -cp "$(tests/broker/kafka fetch)/*" tests/data/txn/TxnProducer.java BOOTSTRAP TOPIC
//
// Partition 0 ends up as (offsets in brackets; M = a transaction marker, a control record):
//   p0..p4 [0-4]  plain producer
//   c0..c9 [5-14] M[15]  transaction of txn-1, committed
//   a0..a9 [16-25] M[26]  transaction of txn-1, aborted
//   c10..c14 [27-31] M[32]  transaction of txn-1, committed
//   then interleaved, three producers at once:
//   a10..a14 [33-37]  txn-1 (will abort)
//   p5..p9   [38-42]  plain producer, inside txn-1's aborted range
//   c15..c19 [43-47]  txn-2 (will commit)
//   a15..a19 [48-52]  txn-1 again
//   M[53] txn-2 commits, M[54] txn-1 aborts; high watermark 55, nothing left open.
// Every record is printed as "VALUE OFFSET" on stdout (from the broker's acks), then
// "END HIGH_WATERMARK", so the test checks offsets against what the broker assigned.
//
// A second mode leaves a transactional offset commit pending, for
// tests/integration/it_group_unstable_offsets.c:
//
//   ... TxnProducer.java BOOTSTRAP TOPIC --pending-offsets GROUP PARTITION OFFSET SIGNAL_FILE
//
// begins a transaction, sends OFFSET for TOPIC/PARTITION of GROUP to it
// (sendOffsetsToTransaction, which returns once the broker holds the commit), prints
// "PENDING", waits until SIGNAL_FILE exists (at most 120 s, else it aborts and exits 1),
// commits and prints "COMMITTED".
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnProducer {
  static String topic;
  static long last = -1;

  static KafkaProducer<String, String> producer(String bootstrap, String txnId) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "20"); // a group of sends becomes one batch
    if (txnId != null) p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
    KafkaProducer<String, String> k = new KafkaProducer<>(p);
    if (txnId != null) k.initTransactions();
    return k;
  }

  // Sends prefix+from .. prefix+(to-1) to partition 0, waits for every ack, prints offsets.
  static void send(KafkaProducer<String, String> k, String prefix, int from, int to) throws Exception {
    List<Future<RecordMetadata>> acks = new ArrayList<>();
    List<String> values = new ArrayList<>();
    for (int i = from; i < to; i++) {
      String v = prefix + i;
      values.add(v);
      acks.add(k.send(new ProducerRecord<>(topic, 0, "k" + i, v)));
    }
    k.flush();
    for (int i = 0; i < acks.size(); i++) {
      long off = acks.get(i).get().offset();
      System.out.println(values.get(i) + " " + off);
      last = Math.max(last, off);
    }
  }

  static void pendingOffsets(String bootstrap, String group, int partition, long offset, String signal)
      throws Exception {
    try (KafkaProducer<String, String> t = producer(bootstrap, "kwire-it-txn-offsets-" + group)) {
      t.beginTransaction();
      t.sendOffsetsToTransaction(Map.of(new TopicPartition(topic, partition), new OffsetAndMetadata(offset)),
          new ConsumerGroupMetadata(group));
      System.out.println("PENDING");
      System.out.flush();
      long end = System.currentTimeMillis() + 120_000;
      while (!Files.exists(Paths.get(signal))) {
        if (System.currentTimeMillis() > end) {
          t.abortTransaction();
          System.err.println("no signal file " + signal + " within 120 s: aborted");
          System.exit(1);
        }
        Thread.sleep(50);
      }
      t.commitTransaction();
      System.out.println("COMMITTED");
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length == 7 && args[2].equals("--pending-offsets")) {
      topic = args[1];
      pendingOffsets(args[0], args[3], Integer.parseInt(args[4]), Long.parseLong(args[5]), args[6]);
      return;
    }
    if (args.length != 2) {
      System.err.println("usage: TxnProducer BOOTSTRAP TOPIC [--pending-offsets GROUP PARTITION OFFSET SIGNAL_FILE]");
      System.exit(2);
    }
    topic = args[1];
    try (KafkaProducer<String, String> plain = producer(args[0], null);
         KafkaProducer<String, String> t1 = producer(args[0], "kwire-it-txn-1-" + topic);
         KafkaProducer<String, String> t2 = producer(args[0], "kwire-it-txn-2-" + topic)) {
      send(plain, "p", 0, 5);

      t1.beginTransaction();
      send(t1, "c", 0, 10);
      t1.commitTransaction();

      t1.beginTransaction();
      send(t1, "a", 0, 10);
      t1.abortTransaction();

      t1.beginTransaction();
      send(t1, "c", 10, 15);
      t1.commitTransaction();

      t1.beginTransaction();
      t2.beginTransaction();
      send(t1, "a", 10, 15);
      send(plain, "p", 5, 10);
      send(t2, "c", 15, 20);
      send(t1, "a", 15, 20);
      t2.commitTransaction();
      t1.abortTransaction();
    }
    // The two markers written last (commit of txn-2, abort of txn-1) take one offset each.
    System.out.println("END " + (last + 3));
  }
}
