#!/usr/bin/env node
// The sources are TypeScript; tsx compiles them on load (cached), so there is no build step to forget.
import { register } from 'tsx/esm/api';

// Disk copies keep file writes in flight that can block in the kernel for a while; libuv's default
// of four threads would leave a guest's reads queued behind them. Set before any file is touched.
process.env.UV_THREADPOOL_SIZE ??= '16';
register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
