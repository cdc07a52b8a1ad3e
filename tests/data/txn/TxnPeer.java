// Transactions held open or aborted on cue, for tests/integration/it_fetch_edges.c.
// Java 17 single-file program, run with the broker's own jars:
//
//   java -cp "$(tests/broker/kafka fetch)/*" tests/data/txn/TxnPeer.java MODE BOOTSTRAP TOPIC N [GOFILE]
//
// hold:   one transactional producer begins a transaction and writes c0..c(N-1) to
//         partition 0, prints "VALUE OFFSET" for each and then "OPEN", waits until
//         GOFILE exists (aborting after 120 s without it), commits and prints
//         "COMMITTED". The test resets a consumer while the transaction is open.
// aborts: N transactional producers (distinct transactional ids) each begin a
//         transaction and write one record a0..a(N-1) to partition 0, so N transactions
//         are open at once; then all abort, in order; then the first commits one more
//         transaction with c0. Prints "VALUE OFFSET" lines and "END HIGH_WATERMARK".
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnPeer {
  static KafkaProducer<String, String> producer(String bootstrap, String txnId) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
    KafkaProducer<String, String> k = new KafkaProducer<>(p);
    k.initTransactions();
    return k;
  }

  static void sent(String value, RecordMetadata md) {
    System.out.println(value + " " + md.offset());
    System.out.flush();
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 4) {
      System.err.println("usage: TxnPeer hold|aborts BOOTSTRAP TOPIC N [GOFILE]");
      System.exit(2);
    }
    String mode = args[0], bootstrap = args[1], topic = args[2];
    int n = Integer.parseInt(args[3]);
    if (mode.equals("hold")) {
      try (KafkaProducer<String, String> k = producer(bootstrap, "kwire-it-hold-" + topic)) {
        k.beginTransaction();
        for (int i = 0; i < n; i++) sent("c" + i, k.send(new ProducerRecord<>(topic, 0, "k", "c" + i)).get());
        System.out.println("OPEN");
        System.out.flush();
        File go = new File(args[4]);
        // A test that failed before giving the cue must not leave this program waiting.
        long deadline = System.currentTimeMillis() + 120_000;
        while (!go.exists()) {
          if (System.currentTimeMillis() > deadline) {
            System.err.println("no cue in 120 s: aborting");
            k.abortTransaction();
            System.exit(3);
          }
          Thread.sleep(20);
        }
        k.commitTransaction();
        System.out.println("COMMITTED");
      }
      return;
    }
    List<KafkaProducer<String, String>> ps = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) ps.add(producer(bootstrap, "kwire-it-abort-" + i + "-" + topic));
      for (int i = 0; i < n; i++) {
        ps.get(i).beginTransaction();
        sent("a" + i, ps.get(i).send(new ProducerRecord<>(topic, 0, "k", "a" + i)).get());
      }
      for (int i = 0; i < n; i++) ps.get(i).abortTransaction();
      ps.get(0).beginTransaction();
      RecordMetadata last = ps.get(0).send(new ProducerRecord<>(topic, 0, "k", "c0")).get();
      sent("c0", last);
      ps.get(0).commitTransaction();
      System.out.println("END " + (last.offset() + 2)); // the commit marker follows c0
    } finally {
      for (KafkaProducer<String, String> k : ps) k.close();
    }
  }
}
