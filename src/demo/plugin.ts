import type { AppPlugin } from '../app.js';
import { readAsset } from '../http/assets.js';
import { demoTvRoutes } from './tv.js';

/** The demo, as a plugin run.ts hands to the app outside production: `/demo/tv` and its script. */
export function demoPlugin(): AppPlugin {
  return { prefixes: ['demo'], routers: [demoTvRoutes()], assets: { 'tv.js': readAsset('demo/assets/tv.js') } };
}
