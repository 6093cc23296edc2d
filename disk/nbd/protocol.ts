// Numbers of the NBD protocol (NetworkBlockDevice/nbd, doc/proto.md).

export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
export const REPLY_MAGIC = 0x3e889045565a9n;

export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
export const FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_C_NO_ZEROES = 1 << 1;

export const OPT_EXPORT_NAME = 1;
export const OPT_ABORT = 2;
export const OPT_INFO = 6;
export const OPT_GO = 7;

export const REP_ACK = 1;
export const REP_INFO = 3;
export const REP_FLAG_ERROR = 0x80000000;

export const INFO_EXPORT = 0;
export const INFO_BLOCK_SIZE = 3;

export const REPLY_ERRORS: Record<number, string> = {
  [REP_FLAG_ERROR + 1]: 'the server does not support this option',
  [REP_FLAG_ERROR + 2]: 'the server refused by policy',
  [REP_FLAG_ERROR + 3]: 'the request was invalid',
  [REP_FLAG_ERROR + 4]: 'the server platform does not support it',
  [REP_FLAG_ERROR + 5]: 'the server requires TLS',
  [REP_FLAG_ERROR + 6]: 'the export is unknown to the server',
  [REP_FLAG_ERROR + 7]: 'the server is shutting down',
  [REP_FLAG_ERROR + 8]: 'the server requires block size negotiation',
  [REP_FLAG_ERROR + 9]: 'the request is too big',
};
export const ERR_UNSUP = REP_FLAG_ERROR + 1;

// Transmission flags of an export.
export const TFLAG_READ_ONLY = 1 << 1;
export const TFLAG_SEND_FLUSH = 1 << 2;
export const TFLAG_SEND_TRIM = 1 << 5;
export const TFLAG_SEND_DF = 1 << 7;
export const TFLAG_CAN_MULTI_CONN = 1 << 8;
