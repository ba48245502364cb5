package dev.edgekit.demo;

import android.content.Context;
import android.content.res.AssetManager;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * Where the app finds its bundle: a folder on the device's storage (default: the app's external files folder, where
 * `adb push` can put one without any permission), or, when the APK was built with android_demo/app/src/main/assets/
 * bundle/, a copy of that folder made once into the app's private storage (onnxruntime needs real files for the
 * model's external data).
 */
final class BundleFolder {
    static final String ASSET_DIR = "bundle";

    private BundleFolder() {
    }

    /** The default folder: /sdcard/Android/data/dev.edgekit.demo/files/bundle. */
    static File defaultFolder(Context context) {
        File external = context.getExternalFilesDir(null);
        return new File(external != null ? external : context.getFilesDir(), ASSET_DIR);
    }

    /** If the APK carries assets/bundle/, copies it to private storage (once) and returns that folder, else null. */
    static File fromAssets(Context context) throws IOException {
        AssetManager assets = context.getAssets();
        String[] names = assets.list(ASSET_DIR);
        if (names == null || names.length == 0) {
            return null;
        }
        File dest = new File(context.getFilesDir(), ASSET_DIR);
        File done = new File(dest, ".copied");
        if (done.isFile()) {
            return dest;
        }
        if (!dest.isDirectory() && !dest.mkdirs()) {
            throw new IOException("cannot create " + dest);
        }
        byte[] buffer = new byte[1 << 16];
        for (String name : names) {
            try (InputStream in = assets.open(ASSET_DIR + "/" + name);
                 OutputStream out = new FileOutputStream(new File(dest, name))) {
                int n;
                while ((n = in.read(buffer)) > 0) {
                    out.write(buffer, 0, n);
                }
            }
        }
        if (!done.createNewFile()) {
            throw new IOException("cannot write " + done);
        }
        return dest;
    }
}
