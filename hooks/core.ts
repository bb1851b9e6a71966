/**
 * The hooks' working code, bundled on its own as dist/hook-core.cjs so that hook-loader.ts can
 * load it through V8's code cache (CommonJS, because Node 20 caches compiled code only for scripts).
 */
export { runNetworkHook } from '../src/hooks/network.js';
export { runQemuHook } from '../src/hooks/qemu.js';
export { warmHookCode } from '../src/hooks/warm.js';
