/**
 * How a node names its cluster to clients: the `cairn-cluster-id` gRPC
 * response header (and trailer of a failed call), the same HTTP response
 * header, and `PipelineResponse.cluster_id` in a pipeline stream's first
 * message. A client compares the value byte for byte; a node that does not
 * know its cluster's id yet (a joining node before the leader contacted it)
 * sends none.
 */
export const CLUSTER_ID_HEADER = 'cairn-cluster-id';
