/** The shapes of what `/ytung/api/*` answers (the platform service's documents, unchanged). */

export interface IRole {
  name: string;
  /** the role's name in the reader's language (the service translates it) */
  label?: string;
  description: string;
}

export interface IVirtualCluster {
  name: string;
  description: string;
}

/** `GET /ytung/api/me` */
export interface IMe {
  name: string;
  nickname: string;
  admin: boolean;
  roles: IRole[];
  permissions: string[];
  vcs: IVirtualCluster[];
  /** the VCs whose workloads this user approves (their admin) */
  vc_admin_of?: string[];
}

/** The device types of the platform (the manual's names); CPU-only workloads have none. */
export type DeviceType = 'nvidia_gpu_amd64' | 'huawei_npu_arm64' | string;

/** One device type of a VC, as the current user sees it. */
export interface IVCDevices {
  device_type: DeviceType;
  /** devices of this type assigned to the VC */
  quota: number;
  /** the most one user may hold at once (`null`: no per-user cap) */
  user_max: number | null;
  /** held by all members now */
  used: number;
  /** held by the current user now */
  my_used: number;
  /** devices asked for by the VC's queued workloads */
  queued: number;
}

/** One VC of `GET /ytung/api/vcs`. */
export interface IMyVirtualCluster extends IVirtualCluster {
  /** maximum usage duration of a workload in hours (`null`: unlimited) */
  max_hours: number | null;
  devices: IVCDevices[];
}

/** One of the current user's queued workloads (SPEC V3, X1). */
export interface IQueuedWorkload {
  id: number;
  name: string;
  kind: string;
  vc: string;
  device_type: DeviceType | null;
  nodes: number;
  devices_per_node: number;
  /** 1 = next to start (`null`: not yet ranked) */
  position: number | null;
  /** workloads queued before it */
  ahead: number;
  /** why it waits, already in the language asked for */
  reason: string;
  /** X1: starts no later than this (ISO 8601); `null`: unknown (see `estimate_reason`) */
  estimated_start?: string | null;
  /** how the estimate was found, or why it is unknown; `null`: not estimated yet */
  estimate_reason?: string | null;
  /** ISO 8601 */
  submitted: string;
}

/** `GET /ytung/api/vcs` */
export interface IMyVirtualClusters {
  current_vc: string | null;
  vcs: IMyVirtualCluster[];
  queued: IQueuedWorkload[];
}

/** `PUT /ytung/api/settings` answers */
export interface ISettings {
  current_vc: string;
}

/** The translation domain of every string of this extension (catalog: ytung_server_ext/locale). */
export const TRANSLATION_DOMAIN = 'ytung';
