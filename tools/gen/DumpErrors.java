// Prints Kafka's error table (code, name, retriable, needs-metadata-refresh, message) as TSV,
// read from the Errors enum of the kafka-clients jar the broker harness downloads, so
// kwire's table is generated from the client's own definition rather than typed by hand.
// Run: java -cp kafka-clients-V.jar tools/gen/DumpErrors.java
import org.apache.kafka.common.errors.InvalidMetadataException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.protocol.Errors;

public class DumpErrors {
    public static void main(String[] args) {
        for (Errors e : Errors.values()) {
            Throwable ex = e.exception();
            boolean retriable = ex instanceof RetriableException;
            boolean refresh = ex instanceof InvalidMetadataException;
            String msg = ex == null ? "" : String.valueOf(ex.getMessage());
            if (e.code() == 0) msg = "";
            System.out.println(e.code() + "\t" + e.name() + "\t" + (retriable ? 1 : 0) + "\t"
                + (refresh ? 1 : 0) + "\t" + msg.replace('\t', ' ').replace('\n', ' '));
        }
    }
}
