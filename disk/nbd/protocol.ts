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
export const OPT_LIST = 3;
export const OPT_STARTTLS = 5;
export const OPT_INFO = 6;
export const OPT_GO = 7;
export const OPT_STRUCTURED_REPLY = 8;
export const OPT_LIST_META_CONTEXT = 9;
export const OPT_SET_META_CONTEXT = 10;

export const REP_ACK = 1;
export const REP_SERVER = 2;
export const REP_INFO = 3;
export const REP_META_CONTEXT = 4;
export const REP_FLAG_ERROR = 0x80000000;

export const INFO_EXPORT = 0;
export const INFO_NAME = 1;
export const INFO_DESCRIPTION = 2;
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
export const ERR_POLICY = REP_FLAG_ERROR + 2;
export const ERR_INVALID = REP_FLAG_ERROR + 3;
export const ERR_TLS_REQD = REP_FLAG_ERROR + 5;
export const ERR_UNKNOWN = REP_FLAG_ERROR + 6;
export const ERR_SHUTDOWN = REP_FLAG_ERROR + 7;

// Transmission flags of an export.
export const TFLAG_HAS_FLAGS = 1 << 0;
export const TFLAG_READ_ONLY = 1 << 1;
export const TFLAG_SEND_FLUSH = 1 << 2;
export const TFLAG_SEND_FUA = 1 << 3;
export const TFLAG_ROTATIONAL = 1 << 4;
export const TFLAG_SEND_TRIM = 1 << 5;
export const TFLAG_SEND_WRITE_ZEROES = 1 << 6;
export const TFLAG_SEND_DF = 1 << 7;
export const TFLAG_CAN_MULTI_CONN = 1 << 8;

// Transmission phase.
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;
export const REQUEST_HEADER_SIZE = 28;
export const SIMPLE_REPLY_HEADER_SIZE = 16;
export const STRUCTURED_REPLY_HEADER_SIZE = 20;

export const CMD_READ = 0;
export const CMD_WRITE = 1;
export const CMD_DISC = 2;
export const CMD_FLUSH = 3;
export const CMD_TRIM = 4;
export const CMD_CACHE = 5;
export const CMD_WRITE_ZEROES = 6;
export const CMD_BLOCK_STATUS = 7;

export const CMD_FLAG_FUA = 1 << 0;
export const CMD_FLAG_NO_HOLE = 1 << 1;
export const CMD_FLAG_DF = 1 << 2;
export const CMD_FLAG_REQ_ONE = 1 << 3;

export const REPLY_FLAG_DONE = 1 << 0;
export const REPLY_TYPE_NONE = 0;
export const REPLY_TYPE_OFFSET_DATA = 1;
export const REPLY_TYPE_OFFSET_HOLE = 2;
export const REPLY_TYPE_BLOCK_STATUS = 5;
export const REPLY_TYPE_ERROR = (1 << 15) + 1;
export const REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2;
export const REPLY_TYPE_ERROR_BIT = 1 << 15;

export const STATE_HOLE = 1 << 0;
export const STATE_ZERO = 1 << 1;
export const META_BASE_ALLOCATION = 'base:allocation';

// Error values on the wire, and the errno names they stand for.
export const NBD_EPERM = 1;
export const NBD_EIO = 5;
export const NBD_ENOMEM = 12;
export const NBD_EINVAL = 22;
export const NBD_ENOSPC = 28;
export const NBD_EOVERFLOW = 75;
export const NBD_ENOTSUP = 95;
export const NBD_ESHUTDOWN = 108;

export const ERRNO_NAMES: Record<number, string> = {
  [NBD_EPERM]: 'EPERM',
  [NBD_EIO]: 'EIO',
  [NBD_ENOMEM]: 'ENOMEM',
  [NBD_EINVAL]: 'EINVAL',
  [NBD_ENOSPC]: 'ENOSPC',
  [NBD_EOVERFLOW]: 'EOVERFLOW',
  [NBD_ENOTSUP]: 'ENOTSUP',
  [NBD_ESHUTDOWN]: 'ESHUTDOWN',
};

/** The largest request payload servers must accept without block size negotiation (proto.md, Size constraints). */
export const DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;
