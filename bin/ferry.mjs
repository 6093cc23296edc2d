#!/usr/bin/env node
// The sources are TypeScript; tsx compiles them on load (cached), so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
