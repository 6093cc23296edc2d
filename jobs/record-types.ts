import type { JobProgress } from './progress.ts';
import type { StoredRecord } from './records.ts';

// The shapes of the records the API serves (see api-catalog/*.yaml) as stored in Redis.

export type ServerStatus = 'available' | 'migrating' | 'migrated' | 'replicating' | 'offline';

export interface ServerRecord extends StoredRecord {
  name: string;
  source: string;
  tags: string[];
  /** Reachability as last checked; migrating and replicating are derived from the active work. */
  status: 'available' | 'offline' | 'migrated';
  sizeBytes: number | null;
  statusReason: string | null;
  checkedAt: string;
}

export interface JobbedRecord extends StoredRecord {
  status: string;
  statusReason: string | null;
  progress: JobProgress | null;
  /** The BullMQ job doing the record's current work, so it can be withdrawn while it waits. */
  jobId: string | null;
}

export interface MigrationRecord extends JobbedRecord {
  serverId: string;
  serverName: string;
  targetHost: string;
  vm: 'none' | 'qemu';
  bootFirst: boolean;
  streams: number;
  bandwidthMbps: number | null;
  verify: boolean;
  planId: string | null;
  cutoverAt: string | null;
  /** The raw file on the target host that receives the disk. */
  volumePath: string | null;
  /** The NBD URL a VM boots from while the disk streams in; null when nothing is served. */
  exportUrl: string | null;
  /** What the copy moved, once it completed. */
  transfer: MigrationTransfer | null;
}

export interface MigrationTransfer {
  bytes: number;
  fetchedBytes: number;
  zeroBytes: number;
  resumedBytes: number;
  onDemandReads: number;
  guestWrittenBytes: number;
  verifiedBytes: number;
  repairedBytes: number;
  bootReadyMs: number | null;
}

export interface PlanRecord extends JobbedRecord {
  name: string;
  serverIds: string[];
  streams: number | null;
  waves: { index: number; serverIds: string[] }[];
}

export interface ReplicationRecord extends JobbedRecord {
  serverId: string;
  serverName: string;
  intervalMinutes: number;
  lastSyncAt: string | null;
}

export interface SnapshotRecord extends StoredRecord {
  replicationId: string;
  serverId: string;
  sizeBytes: number | null;
  changedBytes: number | null;
}

export interface ImageRecord extends JobbedRecord {
  name: string;
  format: string | null;
  virtualSize: number | null;
  os: string | null;
  source: { kind: 'import' | 'snapshot' | 'build'; ref: string };
  inspection: { status: string; reason: string | null; at: string } | null;
}

export interface ImportRecord extends JobbedRecord {
  sourceUrl: string;
  name: string | null;
  format: string;
  targetFormat: string;
  imageId: string | null;
}

export interface PipelineRecord extends StoredRecord {
  name: string;
  components: { kind: 'git' | 'directory' | 'file'; source: string }[];
  baseImageId: string | null;
  format: string;
  rebuildOnChange: boolean;
  schedule: string | null;
  lastBuildId: string | null;
}

export interface BuildRecord extends JobbedRecord {
  pipelineId: string;
  reason: string | null;
  imageId: string | null;
}
