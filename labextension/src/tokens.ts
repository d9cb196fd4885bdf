/** The shapes of what `/ytung/api/*` answers (the platform service's documents, unchanged). */

export interface IRole {
  name: string;
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
}

/** The translation domain of every string of this extension (catalog: ytung_server_ext/locale). */
export const TRANSLATION_DOMAIN = 'ytung';
